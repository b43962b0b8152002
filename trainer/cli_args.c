#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/error.h"
#include "trainer/cli.h"

const char *cli_option_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0)
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (arg[n] != '\0')
        return NULL;
    if (*i + 1 >= argc)
        se_die("option %s needs a value", name);
    return argv[++*i];
}

long cli_parse_long(const char *value, const char *option, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end != '\0' || v < min || v > max)
        se_die("option %s: expected an integer from %ld to %ld, got '%s'", option, min, max, value);
    return v;
}
