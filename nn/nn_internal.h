/*
 * nn_internal.h — helpers shared by nn/'s sources; not part of the public API.
 */
#ifndef SEQGRAD_NN_INTERNAL_H
#define SEQGRAD_NN_INTERNAL_H

#include "nn.h"


/* A broken contract in nn/: through ad.h's error handler, naming this file and line. */
#define nn_fail(op, ...) ad_fail_at(__FILE__, __LINE__, (op), __VA_ARGS__)

#endif
