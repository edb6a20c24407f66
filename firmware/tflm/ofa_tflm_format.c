/*
 * ofa_tflm_format.c - ofa_tflm_vsnprintf() (see ofa_tflm_format.h).
 */
#include "ofa_tflm_format.h"

#include <stdint.h>

/* Output cursor: counts every character, stores those that fit. */
typedef struct {
    char *buf;
    size_t size;
    size_t len;
} sink_t;

static void put(sink_t *s, char c)
{
    if (s->len + 1u < s->size) {
        s->buf[s->len] = c;
    }
    ++s->len;
}

static void put_repeat(sink_t *s, char c, int n)
{
    for (int i = 0; i < n; ++i) {
        put(s, c);
    }
}

typedef struct {
    int left;      /* '-': pad on the right */
    int zero;      /* '0': pad numbers with zeros */
    int plus;      /* '+': sign on positive numbers */
    int space;     /* ' ': space on positive numbers */
    int width;     /* minimum field width */
    int precision; /* -1: none */
} spec_t;

/* A field made of an optional sign/prefix and a body of digits or characters. */
static void put_field(sink_t *s, const spec_t *f, const char *prefix, const char *body, int body_len,
                      int numeric)
{
    int prefix_len = 0;
    while (prefix[prefix_len] != '\0') {
        ++prefix_len;
    }
    int zeros = 0;
    if (numeric && f->precision > body_len) {
        zeros = f->precision - body_len;
    }
    int pad = f->width - prefix_len - zeros - body_len;
    if (pad < 0) {
        pad = 0;
    }
    if (numeric && f->zero && !f->left && f->precision < 0) {
        zeros += pad;
        pad = 0;
    }
    if (!f->left) {
        put_repeat(s, ' ', pad);
    }
    for (int i = 0; i < prefix_len; ++i) {
        put(s, prefix[i]);
    }
    put_repeat(s, '0', zeros);
    for (int i = 0; i < body_len; ++i) {
        put(s, body[i]);
    }
    if (f->left) {
        put_repeat(s, ' ', pad);
    }
}

/* Digits of v in base 2..16, most significant first, into buf (at least 23 bytes). */
static int utoa_digits(uintmax_t v, unsigned base, int upper, char *buf)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v != 0u);
    for (int i = 0; i < n; ++i) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

static void put_integer(sink_t *s, const spec_t *f, uintmax_t magnitude, int negative, unsigned base, int upper,
                        const char *base_prefix)
{
    char body[24];
    int n = utoa_digits(magnitude, base, upper, body);
    if (f->precision == 0 && magnitude == 0u) {
        n = 0; /* "%.0d" of 0 prints nothing */
    }
    char prefix[4] = {0, 0, 0, 0};
    int p = 0;
    if (negative) {
        prefix[p++] = '-';
    } else if (f->plus) {
        prefix[p++] = '+';
    } else if (f->space) {
        prefix[p++] = ' ';
    }
    for (int i = 0; base_prefix[i] != '\0' && p < 3; ++i) {
        prefix[p++] = base_prefix[i];
    }
    put_field(s, f, prefix, body, n, 1);
}

/* Fixed notation with `precision` decimals (default 6), rounded half up on the last digit. */
static void put_fixed(sink_t *s, const spec_t *f, double v)
{
    char body[48];
    int n = 0;
    int negative = v < 0.0;
    int precision = f->precision < 0 ? 6 : (f->precision > 9 ? 9 : f->precision);
    const char *prefix = negative ? "-" : (f->plus ? "+" : (f->space ? " " : ""));
    if (negative) {
        v = -v;
    }
    if (v != v) { /* NaN */
        spec_t g = *f;
        g.precision = -1;
        put_field(s, &g, "", "nan", 3, 0);
        return;
    }
    if (v > 1.8e19) { /* beyond uint64: infinity or too large for this formatter */
        spec_t g = *f;
        g.precision = -1;
        put_field(s, &g, prefix, "inf", 3, 0);
        return;
    }
    uint64_t scale = 1u;
    for (int i = 0; i < precision; ++i) {
        scale *= 10u;
    }
    uint64_t whole = (uint64_t)v;
    double frac = v - (double)whole;
    uint64_t decimals = (uint64_t)(frac * (double)scale + 0.5);
    if (decimals >= scale) { /* rounding carried into the integer part */
        decimals -= scale;
        whole += 1u;
    }
    n = utoa_digits(whole, 10u, 0, body);
    if (precision > 0) {
        char dec[24];
        int d = utoa_digits(decimals, 10u, 0, dec);
        body[n++] = '.';
        for (int i = d; i < precision; ++i) {
            body[n++] = '0';
        }
        for (int i = 0; i < d; ++i) {
            body[n++] = dec[i];
        }
    }
    spec_t g = *f;
    g.precision = -1;
    put_field(s, &g, prefix, body, n, 1);
}

int ofa_tflm_vsnprintf(char *buf, size_t size, const char *format, va_list args)
{
    sink_t s = {buf, size, 0u};
    va_list ap;
    va_copy(ap, args);
    for (const char *p = format; *p != '\0'; ++p) {
        if (*p != '%') {
            put(&s, *p);
            continue;
        }
        ++p;
        spec_t f = {0, 0, 0, 0, 0, -1};
        for (;; ++p) { /* flags */
            if (*p == '-') {
                f.left = 1;
            } else if (*p == '0') {
                f.zero = 1;
            } else if (*p == '+') {
                f.plus = 1;
            } else if (*p == ' ') {
                f.space = 1;
            } else if (*p != '#') {
                break;
            }
        }
        if (*p == '*') { /* width */
            f.width = va_arg(ap, int);
            if (f.width < 0) {
                f.left = 1;
                f.width = -f.width;
            }
            ++p;
        } else {
            while (*p >= '0' && *p <= '9') {
                f.width = f.width * 10 + (*p++ - '0');
            }
        }
        if (*p == '.') { /* precision */
            ++p;
            f.precision = 0;
            if (*p == '*') {
                f.precision = va_arg(ap, int);
                ++p;
            } else {
                while (*p >= '0' && *p <= '9') {
                    f.precision = f.precision * 10 + (*p++ - '0');
                }
            }
        }
        int length = 0; /* -2 hh, -1 h, 0 int, 1 long, 2 long long, 3 size_t/ptrdiff_t/intmax_t */
        if (*p == 'h') {
            length = -1;
            if (*++p == 'h') {
                length = -2;
                ++p;
            }
        } else if (*p == 'l') {
            length = 1;
            if (*++p == 'l') {
                length = 2;
                ++p;
            }
        } else if (*p == 'z' || *p == 't' || *p == 'j') {
            length = *p == 'j' ? 2 : 3;
            ++p;
        }
        char conv = *p;
        if (conv == '\0') {
            break;
        }
        switch (conv) {
        case 'd':
        case 'i': {
            intmax_t v;
            if (length == 1) {
                v = va_arg(ap, long);
            } else if (length == 2) {
                v = va_arg(ap, long long);
            } else if (length == 3) {
                v = (intmax_t)va_arg(ap, ptrdiff_t);
            } else {
                v = va_arg(ap, int);
                if (length == -1) {
                    v = (short)v;
                } else if (length == -2) {
                    v = (signed char)v;
                }
            }
            uintmax_t mag = v < 0 ? (uintmax_t)(-(v + 1)) + 1u : (uintmax_t)v;
            put_integer(&s, &f, mag, v < 0, 10u, 0, "");
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uintmax_t v;
            if (length == 1) {
                v = va_arg(ap, unsigned long);
            } else if (length == 2) {
                v = va_arg(ap, unsigned long long);
            } else if (length == 3) {
                v = va_arg(ap, size_t);
            } else {
                v = va_arg(ap, unsigned int);
                if (length == -1) {
                    v = (unsigned short)v;
                } else if (length == -2) {
                    v = (unsigned char)v;
                }
            }
            unsigned base = conv == 'u' ? 10u : (conv == 'o' ? 8u : 16u);
            put_integer(&s, &f, v, 0, base, conv == 'X', "");
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            put_integer(&s, &f, (uintmax_t)v, 0, 16u, 0, "0x");
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            spec_t g = f;
            g.precision = -1;
            put_field(&s, &g, "", &c, 1, 0);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (str == NULL) {
                str = "(null)";
            }
            int n = 0;
            while (str[n] != '\0' && (f.precision < 0 || n < f.precision)) {
                ++n;
            }
            spec_t g = f;
            g.precision = -1;
            put_field(&s, &g, "", str, n, 0);
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            put_fixed(&s, &f, va_arg(ap, double));
            break;
        case '%':
            put(&s, '%');
            break;
        default: /* unknown conversion: print it as written */
            put(&s, '%');
            put(&s, conv);
            break;
        }
    }
    va_end(ap);
    if (size > 0u) {
        s.buf[s.len < size ? s.len : size - 1u] = '\0';
    }
    return (int)s.len;
}
