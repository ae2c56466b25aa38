/* mcrepl-cli's parts. */
#ifndef MCREPL_CLI_H
#define MCREPL_CLI_H

/* Runs check, resync or status when argv[1] names one of them and
 * returns the exit code; -1 when argv is for another command. */
int mcrepl_cli_failover(int argc, char **argv);

struct mcrepl;

enum { CLI_TABLE = 0, CLI_JSON, CLI_PROMETHEUS };

/* Prints every pair's counters and its nodes' item counts in one of the
 * formats above. Returns 0, or -1 when a pair could not be read. */
int mcrepl_cli_stats(struct mcrepl *m, int format);

#endif
