/*
 * daemon.h - the top of core (daemon.c): start-up, shut-down and the
 * scheduler thread.  fs/ starts and stops it through core.h (core_start,
 * core_stop); what else it offers is here.
 */
#ifndef ASRFS_DAEMON_H
#define ASRFS_DAEMON_H

/* Register every job type with model.c, so records naming them load:
 * core_start does it first; a harness that loads records without starting
 * the daemon calls it itself.  0 or -ENOSPC. */
int daemon_job_types(void);

#endif
