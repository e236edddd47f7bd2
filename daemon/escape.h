/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Process names are bytes. Both outputs show them through escape_comm(), so they agree: valid
 * UTF-8 passes through, every byte that is not part of valid UTF-8 becomes the four characters
 * "\xNN" (NN lower-case hex). Each format then applies its own quoting on top.
 */
#ifndef RAWTPD_ESCAPE_H
#define RAWTPD_ESCAPE_H

#include <stddef.h>

/*
 * Write the text form of in[0..len) (stopping at a NUL) to out, NUL-terminated, truncating
 * at a character boundary if out_size is too small. Returns the length written.
 */
size_t escape_comm(const char *in, size_t len, char *out, size_t out_size);

/*
 * Append s as a Prometheus label value body (no quotes): \ -> \\, " -> \", newline -> \n.
 * Returns bytes written (at most 2 * strlen(s)); out must have room for that. No NUL is added.
 */
size_t escape_label_value(const char *s, char *out);

#endif
