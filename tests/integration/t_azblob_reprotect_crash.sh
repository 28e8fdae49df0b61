#!/bin/bash
# t_azblob_reprotect_crash.sh - t_reprotect_crash.sh with the old primary
# (westeurope) on azblob: the first reprotect moves the original disks into
# replication (a rename and a guard snapshot) rather than copying them, and
# must survive a kill at every step just the same.
REPROTECT_CRASH_AZBLOB=1 exec bash "$(dirname "$0")/t_reprotect_crash.sh"
