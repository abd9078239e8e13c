/*
 * common.h — what every example program shares: failing cleanly, progress on stderr, learning
 * curves as CSV rendered by gnuplot, and the paths of the cached data.
 */
#ifndef SEQGRAD_EXAMPLES_COMMON_H
#define SEQGRAD_EXAMPLES_COMMON_H

#include "nn.h"

#include <stdbool.h>
#include <stdio.h>

/* Print "<program>: <message>" to stderr and exit(1). ex_program is set from argv[0] by
 * ex_init. ex_check_status exits with nn_last_error() when s is not NN_OK. */
extern const char *ex_program;
void ex_init(int argc, char **argv);
_Noreturn void ex_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ex_check_status(nn_status s);

/* Print a line on stdout, first clearing a progress bar drawn on the same terminal. */
void ex_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a number option or die naming it: "--steps: 'x' is not a whole number >= 1". */
long ex_parse_long(const char *option, const char *text, long min, long max);
double ex_parse_double(const char *option, const char *text, double min, double max);

/* A corpus in the cache scripts/fetch-data fills: $SEQGRAD_DATA, else <repo>/data/cache,
 * joined with name ("kjv.txt"). Dies with the command to run when the file is missing. */
const char *ex_data_path(const char *name);

/* Progress on stderr: a bar redrawn in place when stderr is a terminal (step/total, tokens/s,
 * loss, ETA), else a plain line every `every` seconds. total 0: unknown (no ETA). */
typedef struct ex_progress ex_progress;
ex_progress *ex_progress_new(const char *what, long total, double every);
void ex_progress_update(ex_progress *p, long step, long tokens, double loss);
void ex_progress_done(ex_progress *p); /* the final line; frees p */

/* A learning curve: a CSV file with a header line of the given comma-separated column names and
 * one row per call; rows are flushed as they come, so a curve survives an interrupted run. */
typedef struct ex_curve ex_curve;
ex_curve *ex_curve_open(const char *csv_path, const char *columns); /* dies on failure */
void ex_curve_row(ex_curve *c, const double *values);                /* one per column */
void ex_curve_close(ex_curve *c);

/* Render columns y_columns (comma-separated names) of a curve against its first column as a PNG
 * with gnuplot, when gnuplot is installed. Returns 0 when the image was written, 1 when gnuplot
 * is not there (a note on stderr says how to get it), -1 when gnuplot failed. */
int ex_plot(const char *csv_path, const char *png_path, const char *title, const char *y_columns);

#endif
