/*
 * daemon.h - the top of core (daemon.c): start-up, shut-down and the
 * scheduler thread.  fs/ starts and stops it through core.h (core_start,
 * core_stop); what else it offers is here.
 */
#ifndef ASRFS_DAEMON_H
#define ASRFS_DAEMON_H

/* Give the files below what they need from the files above: the table of
 * operations' job-type finder to model.c, so records naming a job type
 * load, and to lifecycle.c the rule of which states take a control
 * (controls.c) and the table's entry of a job type.  core_start does it
 * first; a harness that loads records without starting the daemon calls it
 * itself.  Returns 0. */
int daemon_register(void);

#endif
