/*
 * nn_internal.h — helpers shared by nn/'s sources; not part of the public API.
 */
#ifndef SEQGRAD_NN_INTERNAL_H
#define SEQGRAD_NN_INTERNAL_H

#include "nn.h"

/* Record the message of a failure for nn_last_error() in this thread and return s, so that a
 * failing path reads: return nn_set_error(NN_ERR_IO, "%s: cannot open: %s", path, strerror(e));
 * The message should start with the file's path. */
nn_status nn_set_error(nn_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A broken contract in nn/: through ad.h's error handler, naming this file and line. */
#define nn_fail(op, ...) ad_fail_at(__FILE__, __LINE__, (op), __VA_ARGS__)

#endif
