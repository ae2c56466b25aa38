/* Return codes, their names and messages, and the mapping from
 * libmemcached's memcached_return_t. */
#include "errors.h"

typedef struct {
  const char *name;
  const char *text;
} code_info_t;

/* Indexed by mcrepl_return_t; keep in the enum's order. */
static const code_info_t codes[MCREPL_RETURN_MAX] = {
  {"MCREPL_SUCCESS", "success"},
  {"MCREPL_NOTFOUND", "not found"},
  {"MCREPL_NOTSTORED", "not stored"},
  {"MCREPL_EXISTS", "item exists (cas token is stale)"},
  {"MCREPL_TIMEOUT", "timed out"},
  {"MCREPL_CONNECTION_FAILURE", "connection failure"},
  {"MCREPL_HOST_LOOKUP_FAILURE", "host name lookup failure"},
  {"MCREPL_SERVER_ERROR", "server error"},
  {"MCREPL_PROTOCOL_ERROR", "protocol error: unexpected server answer"},
  {"MCREPL_BAD_KEY",
   "bad key: empty, over 250 bytes, or with spaces or control characters"},
  {"MCREPL_VALUE_TOO_LARGE", "value too large for the server"},
  {"MCREPL_NON_NUMERIC", "value is not a number"},
  {"MCREPL_INVALID_ARGUMENTS", "invalid arguments"},
  {"MCREPL_BAD_CONFIG", "bad configuration"},
  {"MCREPL_NOMEM", "out of memory"},
  {"MCREPL_SLAVE_DIRTY", "a slave missed writes and needs a resync"},
  {"MCREPL_NOT_SUPPORTED", "not supported"},
  {"MCREPL_FAILURE", "failure"},
  {"MCREPL_RECURSIVE_API_CALL",
   "not allowed from within the handle's own callback"},
};

MCREPL_API const char *mcrepl_strerror(mcrepl_return_t rc)
{
  if ((unsigned)rc >= MCREPL_RETURN_MAX)
    return "unknown return code";
  return codes[rc].text;
}

MCREPL_API const char *mcrepl_strcode(mcrepl_return_t rc)
{
  if ((unsigned)rc >= MCREPL_RETURN_MAX)
    return "MCREPL_UNKNOWN";
  return codes[rc].name;
}

static int is_connection_error(memcached_return_t rc)
{
  switch (rc) {
  case MEMCACHED_CONNECTION_FAILURE:
  case MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE:
  case MEMCACHED_SERVER_MARKED_DEAD:
  case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
  case MEMCACHED_NO_SERVERS:
  case MEMCACHED_ERRNO:
  case MEMCACHED_WRITE_FAILURE:
  case MEMCACHED_READ_FAILURE:
  case MEMCACHED_UNKNOWN_READ_FAILURE:
  case MEMCACHED_CONNECTION_BIND_FAILURE:
    return 1;
  default:
    return 0;
  }
}

mcrepl_return_t mcrepl__from_memcached(memcached_return_t rc)
{
  if (memcached_success(rc) || rc == MEMCACHED_END)
    return MCREPL_SUCCESS;
  if (is_connection_error(rc))
    return MCREPL_CONNECTION_FAILURE;
  switch (rc) {
  case MEMCACHED_NOTFOUND: return MCREPL_NOTFOUND;
  case MEMCACHED_NOTSTORED: return MCREPL_NOTSTORED;
  case MEMCACHED_DATA_EXISTS: return MCREPL_EXISTS;
  case MEMCACHED_TIMEOUT: return MCREPL_TIMEOUT;
  case MEMCACHED_HOST_LOOKUP_FAILURE: return MCREPL_HOST_LOOKUP_FAILURE;
  case MEMCACHED_E2BIG: return MCREPL_VALUE_TOO_LARGE;
  case MEMCACHED_SERVER_ERROR:
  case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE:
    return MCREPL_SERVER_ERROR;
  case MEMCACHED_PROTOCOL_ERROR:
  case MEMCACHED_UNKNOWN_STAT_KEY:
  case MEMCACHED_PARTIAL_READ:
  case MEMCACHED_SOME_ERRORS:
    return MCREPL_PROTOCOL_ERROR;
  case MEMCACHED_BAD_KEY_PROVIDED:
  case MEMCACHED_KEY_TOO_BIG:
    return MCREPL_BAD_KEY;
  case MEMCACHED_INVALID_ARGUMENTS: return MCREPL_INVALID_ARGUMENTS;
  case MEMCACHED_MEMORY_ALLOCATION_FAILURE: return MCREPL_NOMEM;
  case MEMCACHED_NOT_SUPPORTED: return MCREPL_NOT_SUPPORTED;
  default: return MCREPL_FAILURE;
  }
}

/* The binary protocol's "out of memory" status reaches the caller as
 * MEMORY_ALLOCATION_FAILURE, the code of libmemcached's own malloc
 * failures; the text protocol's SERVER_ERROR out of memory has a code of
 * its own. A write allocates nothing in libmemcached, and its own
 * failures record the error on the handle; a bare one is the server's. */
mcrepl_return_t mcrepl__from_write(const memcached_st *mc,
                                   memcached_return_t rc)
{
  if (rc == MEMCACHED_MEMORY_ALLOCATION_FAILURE &&
      memcached_last_error(mc) != MEMCACHED_MEMORY_ALLOCATION_FAILURE)
    return MCREPL_SERVER_ERROR;
  return mcrepl__from_memcached(rc);
}
