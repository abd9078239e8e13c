/* status.c — nn_status names and the per-thread message of the last failure. */
#include "nn_internal.h"

#include <stdarg.h>
#include <stdio.h>

/* One buffer per thread: two threads saving checkpoints never see each other's messages. Long
 * enough for a path and a parser's explanation; snprintf truncates anything longer. */
static _Thread_local char last_error[2048];

const char *nn_last_error(void) { return last_error; }

nn_status nn_set_error(nn_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

const char *nn_status_name(nn_status s) {
    switch (s) {
    case NN_OK: return "NN_OK";
    case NN_ERR_IO: return "NN_ERR_IO";
    case NN_ERR_FORMAT: return "NN_ERR_FORMAT";
    case NN_ERR_VERSION: return "NN_ERR_VERSION";
    case NN_ERR_CHECKSUM: return "NN_ERR_CHECKSUM";
    case NN_ERR_MISMATCH: return "NN_ERR_MISMATCH";
    case NN_ERR_MEMORY: return "NN_ERR_MEMORY";
    }
    return "unknown nn_status";
}
