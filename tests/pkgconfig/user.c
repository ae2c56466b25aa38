/* A program built the way a user would build it, against the installed
 * library only:  cc user.c $(pkg-config --cflags --libs mcrepl)
 *
 * Usage: user MASTER_PORT SLAVE_PORT
 * Sets a key through mcrepl on the pair 127.0.0.1:MASTER/127.0.0.1:SLAVE,
 * waits until it is replicated, then asks the slave itself for it. Exits
 * non-zero unless the slave holds the value. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mcrepl/mcrepl.h>

#define KEY "pkgconfig-check"
#define VALUE "installed-ok"

/* Asks one server directly, so that the answer is the slave's own. */
static int slave_has_value(int port) {
  struct sockaddr_in sa;
  struct timeval tv = {3, 0};
  char buf[512] = "";
  size_t got = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      write(fd, "mg " KEY " v\r\n", strlen("mg " KEY " v\r\n")) > 0) {
    /* "VA 12\r\ninstalled-ok\r\n" or "EN\r\n" */
    while (got < sizeof buf - 1 && strstr(buf, VALUE "\r\n") == NULL &&
           strstr(buf, "EN\r\n") == NULL) {
      ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
      if (n <= 0)
        break;
      got += (size_t)n;
      buf[got] = '\0';
    }
  }
  close(fd);
  return strstr(buf, "\r\n" VALUE "\r\n") != NULL;
}

int main(int argc, char **argv) {
  char conf[128], err[256] = "";
  if (argc != 3) {
    fprintf(stderr, "usage: %s MASTER_PORT SLAVE_PORT\n", argv[0]);
    return 2;
  }
  if (strcmp(mcrepl_version(), MCREPL_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s, library %s\n", MCREPL_VERSION_STRING,
            mcrepl_version());
    return 1;
  }
  snprintf(conf, sizeof conf, "--pair=127.0.0.1:%s,127.0.0.1:%s", argv[1],
           argv[2]);
  mcrepl_t *m = mcrepl_create(conf, err, sizeof err);
  if (m == NULL) {
    fprintf(stderr, "mcrepl_create(%s): %s\n", conf, err);
    return 1;
  }
  mcrepl_return_t rc = mcrepl_set(m, KEY, strlen(KEY), VALUE,
                                  strlen(VALUE), 0, 0);
  if (rc == MCREPL_SUCCESS)
    rc = mcrepl_wait_replicated(m, 5000);
  mcrepl_destroy(m);
  if (rc != MCREPL_SUCCESS) {
    fprintf(stderr, "mcrepl: %s\n", mcrepl_strerror(rc));
    return 1;
  }
  if (!slave_has_value(atoi(argv[2]))) {
    fprintf(stderr, "the slave does not hold " KEY "\n");
    return 1;
  }
  printf("user program: mcrepl %s replicated " KEY " to the slave\n",
         mcrepl_version());
  return 0;
}
