/* The subcommands of the `sentembed` binary. Each returns the process exit status. */
#ifndef SENTEMBED_CLI_H
#define SENTEMBED_CLI_H

int cmd_tokenize(int argc, char **argv);

/* "--name=value" or "--name value": returns the value and advances *i, or NULL when
 * argv[*i] is not this option. Dies with a message when the value is missing. */
const char *cli_option_value(int argc, char **argv, int *i, const char *name);
/* A non-negative integer option value, or death with a message naming the option. */
long cli_parse_long(const char *value, const char *option, long min, long max);

#endif
