/*
 * daemon.h - the top of core (daemon.c): start-up, shut-down and the
 * scheduler thread.  fs/ starts and stops it through core.h (core_start,
 * core_stop); what else it offers is here.
 */
#ifndef ASRFS_DAEMON_H
#define ASRFS_DAEMON_H

/* Give the files below what they need from the files above: every job
 * type to model.c, so records naming them load, and vault.c's rule of which
 * states take a control to lifecycle.c.  core_start does it first; a
 * harness that loads records without starting the daemon calls it itself.
 * 0 or -ENOSPC. */
int daemon_register(void);

#endif
