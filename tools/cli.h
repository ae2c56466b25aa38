/* mcrepl-cli's parts. */
#ifndef MCREPL_CLI_H
#define MCREPL_CLI_H

/* Runs check, resync or status when argv names one of them, first or
 * after options of the --NAME=VALUE form, and returns the exit code; -1
 * when argv is for another command. */
int mcrepl_cli_failover(int argc, char **argv);

/* 1 when word is check, resync or status. */
int mcrepl_cli_is_failover(const char *word);

struct mcrepl;

/* mcrepl_create with the message printed on failure; *code is then the
 * exit code: 2 for a configuration refused, 3 for no memory or thread
 * (a retry may succeed; editing the configuration would not help). */
struct mcrepl *mcrepl_cli_create(const char *config, int *code);

enum { CLI_TABLE = 0, CLI_JSON, CLI_PROMETHEUS };

/* Prints every pair's counters and its nodes' item counts in one of the
 * formats above. Returns 0, or -1 when a pair could not be read. */
int mcrepl_cli_stats(struct mcrepl *m, int format);

#endif
