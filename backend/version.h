/*
 * version.h - asrfs's version, one place for every layer (the daemon's -V
 * and `version` file, the azblob User-Agent).
 */
#ifndef ASRFS_VERSION_H
#define ASRFS_VERSION_H

#define ASRFS_VERSION "0.1.0"

#endif
