/* mcrepl-cli's parts. */
#ifndef MCREPL_CLI_H
#define MCREPL_CLI_H

/* Runs check, resync or status when argv[1] names one of them and
 * returns the exit code; -1 when argv is for another command. */
int mcrepl_cli_failover(int argc, char **argv);

#endif
