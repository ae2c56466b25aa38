/* mcrepl - replicated memcached pairs, client side.
 * Version of the headers this program was compiled against; compare with
 * mcrepl_version() to learn which library it runs with. */
#ifndef MCREPL_VERSION_H
#define MCREPL_VERSION_H

#define MCREPL_VERSION_MAJOR 0
#define MCREPL_VERSION_MINOR 1
#define MCREPL_VERSION_PATCH 0
#define MCREPL_VERSION_STRING "0.1.0"

/* One number that grows with every release: 0xMMmmpp. */
#define MCREPL_VERSION_HEX \
  ((MCREPL_VERSION_MAJOR << 16) | (MCREPL_VERSION_MINOR << 8) | \
   MCREPL_VERSION_PATCH)

/* True when the headers are at least MAJOR.MINOR.PATCH. */
#define MCREPL_AT_LEAST_VERSION(major, minor, patch) \
  (MCREPL_VERSION_HEX >= (((major) << 16) | ((minor) << 8) | (patch)))

#endif /* MCREPL_VERSION_H */
