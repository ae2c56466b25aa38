/* Return codes: libmemcached's answers in our terms. */
#ifndef MCREPL_ERRORS_H
#define MCREPL_ERRORS_H

#include <libmemcached/memcached.h>

#include "mcrepl/mcrepl.h"

mcrepl_return_t mcrepl__from_memcached(memcached_return_t rc);

/* The answer to a write on mc (store, incr/decr). */
mcrepl_return_t mcrepl__from_write(const memcached_st *mc,
                                   memcached_return_t rc);

#endif
