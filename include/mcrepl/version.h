/* mcrepl - replicated memcached pairs, client side.
 * Version of the headers this program was compiled against; compare with
 * mcrepl_version() to learn which library it runs with. */
#ifndef MCREPL_VERSION_H
#define MCREPL_VERSION_H

/* The one place the version is written: configure.ac reads these three
 * lines (its AC_INIT), and the string is made of them. */
#define MCREPL_VERSION_MAJOR 0
#define MCREPL_VERSION_MINOR 1
#define MCREPL_VERSION_PATCH 0

#define MCREPL_VERSION__STR(x) #x
#define MCREPL_VERSION__XSTR(x) MCREPL_VERSION__STR(x)
#define MCREPL_VERSION_STRING                                             \
  MCREPL_VERSION__XSTR(MCREPL_VERSION_MAJOR) "."                          \
  MCREPL_VERSION__XSTR(MCREPL_VERSION_MINOR) "."                          \
  MCREPL_VERSION__XSTR(MCREPL_VERSION_PATCH)

/* One number that grows with every release: 0xMMmmpp. */
#define MCREPL_VERSION_HEX \
  ((MCREPL_VERSION_MAJOR << 16) | (MCREPL_VERSION_MINOR << 8) | \
   MCREPL_VERSION_PATCH)

/* True when the headers are at least MAJOR.MINOR.PATCH. */
#define MCREPL_AT_LEAST_VERSION(major, minor, patch) \
  (MCREPL_VERSION_HEX >= (((major) << 16) | ((minor) << 8) | (patch)))

#endif /* MCREPL_VERSION_H */
