/* edgecore sniff: a passive monitor of an RS-485 line (or a pty). It never writes to the line: it reads the
 * bytes, splits them into frames by the line's silence (and by the frames' own structure when several run
 * together), checks each frame's Modbus CRC or DL/T 645 checksum, decodes Modbus RTU and DL/T 645, prints a
 * table or JSON lines, and can write a classic pcap file (link type USER0, 147: Wireshark's DLT_USER table
 * maps it to "mbrtu").
 *
 * The port is locked like every other subcommand's (check_port): a tty hands each byte to one reader only,
 * so listening on the port a master uses would steal its replies. A sniffer needs an adapter of its own on
 * the same A/B pair. */
#define _GNU_SOURCE /* ppoll: a frame gap finer than a millisecond */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/serial.h>

static const char SNIFF_HELP[] =
    "usage: edgecore sniff DEVICE [--baud N] [--parity N|E|O] [--gap-ms MS] [--protocol auto|modbus|dlt645|cjt188]\n"
    "                      [--pcap FILE] [--format table|json] [--duration S] [--count N]\n"
    "Listen on a serial line without ever writing to it: split the bytes into frames by the line's silence,\n"
    "check each frame's CRC (Modbus RTU) or checksum (DL/T 645, CJ/T 188), decode it, one line per frame.\n"
    "  DEVICE                 the sniffer's own adapter on the line (or a pty); it is locked like any port\n"
    "  --baud N               the line's baud rate (9600; with --protocol dlt645 or cjt188: 2400)\n"
    "  --parity N|E|O         the line's parity (N; with --protocol dlt645 or cjt188: E); 8 data bits, 1 stop\n"
    "  --gap-ms MS            the silence that ends a frame (3.5 characters at the baud, at least 2 ms)\n"
    "  --protocol P           auto (default: DL/T 645 or CJ/T 188 by their structure, else Modbus RTU), modbus,\n"
    "                         dlt645 or cjt188\n"
    "  --pcap FILE            also write the frames to a pcap file (link type USER0 = 147; in Wireshark map\n"
    "                         it to mbrtu: Preferences > Protocols > DLT_USER, see the man page)\n"
    "  --format table|json    one line per frame: a table (default) or JSON lines\n"
    "  --duration S           stop after S seconds (default: until interrupted)\n"
    "  --count N              stop after N frames\n"
    "Exit: 0 stopped (duration, count, SIGINT/SIGTERM), 1 the line failed or the pcap file cannot be written,\n"
    "2 usage, 4 the device is missing or another process holds it.\n";

enum protocol { PROTO_AUTO, PROTO_MODBUS, PROTO_DLT645, PROTO_CJT188 };
enum kind { KIND_MODBUS, KIND_DLT645, KIND_CJT188 }; /* PROTO_X - 1 */

#define BUFFER_SIZE 2048
#define MAX_CHUNKS 256
#define LINKTYPE_USER0 147

struct sniffer {
    int fd;
    enum protocol protocol;
    enum format format;
    double char_ns;   /* one character's time on the line */
    int64_t gap_ns;   /* the silence that ends a frame */
    int64_t wall0_ns, mono0_ns;
    FILE *pcap;
    const char *pcap_path;
    long count, frames, bad;
    /* the bytes since the last silence, with the monotonic time each read returned */
    uint8_t buffer[BUFFER_SIZE];
    size_t length;
    size_t chunk_offset[MAX_CHUNKS];
    int64_t chunk_ns[MAX_CHUNKS];
    int chunks;
    int64_t last_byte_ns;
    /* the last Modbus request, to recognise its response */
    int pending;
    uint8_t pending_unit, pending_function;
    uint16_t pending_address, pending_count;
};

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Frames: checks and lengths                                                                           */
/* ---------------------------------------------------------------------------------------------------- */

static uint16_t crc16(const uint8_t *data, size_t length) {
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < length; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

static int crc_ok(const uint8_t *frame, size_t length) {
    if (length < 4) return 0;
    uint16_t crc = crc16(frame, length - 2);
    return frame[length - 2] == (crc & 0xFF) && frame[length - 1] == (crc >> 8);
}

/* The meter frames: DL/T 645 FE* 68 A0..A5 68 C L DATA CS 16, CJ/T 188 FE* 68 T A0..A6 C L DATA CS 16. The
 * preamble's length in *start; returns the frame's length (preamble included) when the header of that kind
 * is there, 0 when it is not. */
static size_t meter_length(enum kind kind, const uint8_t *b, size_t n, size_t *start) {
    size_t p = 0;
    while (p < n && b[p] == 0xFE) p++;
    *start = p;
    if (kind == KIND_DLT645) {
        if (n < p + 10 || b[p] != 0x68 || b[p + 7] != 0x68) return 0;
        return p + 12 + b[p + 9];
    }
    if (n < p + 11 || b[p] != 0x68 || b[p + 1] < 0x10 || b[p + 1] > 0x49) return 0;
    return p + 13 + b[p + 10];
}

/* The checksum (the sum of the bytes from the first 68 to CS) and the end byte 16 of a whole meter frame. */
static int meter_checksum_ok(const uint8_t *b, size_t n, size_t start) {
    if (n < start + 12 || b[n - 1] != 0x16) return 0;
    uint8_t sum = 0;
    for (size_t i = start; i < n - 2; i++) sum = (uint8_t)(sum + b[i]);
    return sum == b[n - 2];
}

/* The lengths a Modbus RTU frame starting with b could have (a request's, a response's), ascending; 0 when
 * the bytes do not tell (too few, or a function without a fixed form). */
static int modbus_lengths(const uint8_t *b, size_t n, size_t out[2]) {
    if (n < 2) return 0;
    uint8_t f = b[1];
    int k = 0;
    if (f & 0x80) {
        out[k++] = 5;
    } else if (f >= 1 && f <= 4) {
        out[k++] = 8;
        if (n >= 3) out[k++] = 5 + (size_t)b[2];
    } else if (f == 5 || f == 6 || f == 8) {
        out[k++] = 8;
    } else if (f == 15 || f == 16) {
        out[k++] = 8;
        if (n >= 7) out[k++] = 9 + (size_t)b[6];
    } else if (f == 7) {
        out[k++] = 4;
        out[k++] = 5;
    } else if (f == 17) {
        out[k++] = 4;
        if (n >= 3) out[k++] = 5 + (size_t)b[2];
    } else if (f == 22) {
        out[k++] = 10;
    } else if (f == 23) {
        if (n >= 3) out[k++] = 5 + (size_t)b[2];
        if (n >= 11) out[k++] = 13 + (size_t)b[10];
    }
    if (k == 2 && out[0] > out[1]) {
        size_t t = out[0];
        out[0] = out[1];
        out[1] = t;
    }
    return k;
}

/* What the frame at b is: the protocol given, else (auto) a DL/T 645 or CJ/T 188 frame whole with a good
 * checksum, else one whose header fits (DL/T 645 first), else Modbus RTU. */
static enum kind frame_kind(const struct sniffer *s, const uint8_t *b, size_t n) {
    if (s->protocol != PROTO_AUTO) return (enum kind)(s->protocol - 1);
    static const enum kind METERS[] = {KIND_DLT645, KIND_CJT188};
    size_t start, total;
    for (int i = 0; i < 2; i++)
        if ((total = meter_length(METERS[i], b, n, &start)) && total <= n && meter_checksum_ok(b, total, start))
            return METERS[i];
    for (int i = 0; i < 2; i++)
        if (meter_length(METERS[i], b, n, &start)) return METERS[i];
    return KIND_MODBUS;
}

/* The length of the first frame in b[0..n): the structure's length when the bytes hold a whole frame with a
 * good check (or a meter frame's header says so), else all n bytes (one frame, its check bad). */
static size_t first_frame(const struct sniffer *s, const uint8_t *b, size_t n) {
    enum kind kind = frame_kind(s, b, n);
    if (kind != KIND_MODBUS) {
        size_t start, total = meter_length(kind, b, n, &start);
        if (total && total <= n) return total;
        if (total == 0 && start > 0 && start < n) return start; /* FE bytes without a frame: alone */
        return n;
    }
    size_t lengths[2];
    int k = modbus_lengths(b, n, lengths);
    for (int i = 0; i < k; i++)
        if (lengths[i] <= n && crc_ok(b, lengths[i])) return lengths[i];
    /* a Modbus frame followed by a meter frame, or an undecodable function: the first good CRC */
    if (!crc_ok(b, n) && s->protocol == PROTO_AUTO)
        for (size_t i = 4; i + 10 <= n; i++)
            if ((b[i] == 0xFE || b[i] == 0x68) && crc_ok(b, i) && frame_kind(s, b + i, n - i) != KIND_MODBUS)
                return i;
    return n;
}

/* Bytes that are the beginning of a longer frame: more are still to come (a USB adapter delivers a long
 * frame in pieces with silences between them). Returns how many more are expected, 0 when none. */
static size_t missing_bytes(const struct sniffer *s, const uint8_t *b, size_t n) {
    if (s->protocol != PROTO_MODBUS) { /* a meter frame's preamble or header so far */
        size_t p = 0;
        while (p < n && b[p] == 0xFE) p++;
        if (p > 0 && n < p + 11 && (p == n || b[p] == 0x68)) return p + 12 - n;
    }
    enum kind kind = frame_kind(s, b, n);
    if (kind != KIND_MODBUS) {
        size_t start, total = meter_length(kind, b, n, &start);
        return total > n ? total - n : 0;
    }
    if (crc_ok(b, n)) return 0;
    size_t lengths[2], longest = 0;
    int k = modbus_lengths(b, n, lengths);
    for (int i = 0; i < k; i++) {
        if (lengths[i] <= n && crc_ok(b, lengths[i])) return 0;
        if (lengths[i] > longest) longest = lengths[i];
    }
    return longest > n ? longest - n : 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* Decoding                                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

/* What a frame says, for both output formats. */
struct decoded {
    const char *protocol;  /* "modbus", "dlt645" */
    int check_ok;
    const char *direction; /* "request", "response", NULL: unknown */
    /* Modbus */
    int unit, function, exception;
    long address, count, value; /* -1: absent */
    int values_kind;            /* 0 none, 1 registers, 2 bits */
    const uint8_t *values;
    int values_count;
    /* DL/T 645 */
    char meter[16];
    int control;
    int abnormal, more;
    char di[12];
    const char *item;
    char data[520]; /* the data after the DI (0x33 removed), most significant byte first */
    int error;      /* abnormal reply's error byte, -1: none */
    int meter_type, ser; /* CJ/T 188, -1: absent */
};

static const char *modbus_function_name(int f) {
    switch (f) {
    case 1: return "read_coils";
    case 2: return "read_discrete_inputs";
    case 3: return "read_holding_registers";
    case 4: return "read_input_registers";
    case 5: return "write_single_coil";
    case 6: return "write_single_register";
    case 7: return "read_exception_status";
    case 8: return "diagnostics";
    case 15: return "write_multiple_coils";
    case 16: return "write_multiple_registers";
    case 17: return "report_server_id";
    case 22: return "mask_write_register";
    case 23: return "read_write_multiple_registers";
    case 43: return "encapsulated_interface";
    default: return "function";
    }
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void decode_modbus(struct sniffer *s, const uint8_t *b, size_t n, struct decoded *d) {
    d->protocol = "modbus";
    d->check_ok = crc_ok(b, n);
    if (n < 4) return;
    d->unit = b[0];
    d->function = b[1] & 0x7F;
    if (b[1] & 0x80) {
        d->direction = "response";
        d->exception = b[2];
        if (s->pending && s->pending_unit == b[0] && s->pending_function == d->function) {
            d->address = s->pending_address;
            d->count = s->pending_count;
        }
        s->pending = 0;
        return;
    }
    int f = d->function;
    int paired = s->pending && s->pending_unit == b[0] && s->pending_function == f; /* also with a bad CRC */
    int is_read = f >= 1 && f <= 4;
    /* A response when a request of the same unit and function waits and the frame has a response's form. */
    int response_form = 0, request_form = 0;
    if (is_read) {
        response_form = n == 5 + (size_t)b[2];
        request_form = n == 8;
    } else if (f == 5 || f == 6 || f == 15 || f == 16) {
        response_form = n == 8;
        request_form = (f == 5 || f == 6) ? n == 8 : n >= 9 && n == 9 + (size_t)b[6];
    }
    int response = paired && response_form;
    if (!response && !request_form && response_form) response = 1;  /* a response whose request was missed */
    if (!response_form && !request_form) {
        d->direction = NULL;
        return;
    }
    d->direction = response ? "response" : "request";
    if (response) {
        if (paired && is_read) {
            d->address = s->pending_address;
            d->count = s->pending_count;
        }
        s->pending = 0;
        if (is_read) {
            d->values = b + 3;
            if (f <= 2) {
                d->values_kind = 2;
                d->values_count = b[2] * 8;
                if (paired && s->pending_count < d->values_count) d->values_count = s->pending_count;
            } else {
                d->values_kind = 1;
                d->values_count = b[2] / 2;
            }
        } else {
            d->address = be16(b + 2);
            if (f == 5) d->value = be16(b + 4) == 0xFF00;
            else if (f == 6) d->value = be16(b + 4);
            else d->count = be16(b + 4);
        }
        return;
    }
    d->address = be16(b + 2);
    if (f == 5) d->value = be16(b + 4) == 0xFF00;
    else if (f == 6) d->value = be16(b + 4);
    else d->count = be16(b + 4);
    if (f == 16) {
        d->values_kind = 1;
        d->values = b + 7;
        d->values_count = b[6] / 2;
    } else if (f == 15) {
        d->values_kind = 2;
        d->values = b + 7;
        d->values_count = d->count < b[6] * 8 ? (int)d->count : b[6] * 8;
    }
    if (d->check_ok) {
        s->pending = 1;
        s->pending_unit = b[0];
        s->pending_function = (uint8_t)f;
        s->pending_address = (uint16_t)d->address;
        s->pending_count = (uint16_t)(d->count >= 0 ? d->count : 1);
    }
}

/* DL/T 645 catalogue names, from the library (edgecore_meter_item_find maps a name to its identifier; the
 * names follow docs/meters.md's grammar, so the reverse table is built from them once). */
struct item_entry {
    uint32_t di;
    int protocol;
    char name[48];
};
static struct item_entry *items;
static int item_count;

static void add_item(int protocol, const char *name) {
    uint32_t di;
    if (edgecore_meter_item_find(protocol, name, &di) != EDGECORE_OK) return;
    struct item_entry *grown = realloc(items, (size_t)(item_count + 1) * sizeof *items);
    if (!grown) return;
    items = grown;
    items[item_count].di = di;
    items[item_count].protocol = protocol;
    snprintf(items[item_count].name, sizeof items[item_count].name, "%s", name);
    item_count++;
}

static void build_items(void) {
    static const char *const energies[] = {"combined_active_energy", "forward_active_energy",
                                           "reverse_active_energy", "combined_reactive1_energy",
                                           "combined_reactive2_energy"};
    static const char *const tariffs[] = {"total", "t1", "t2", "t3", "t4"};
    static const char *const phases[] = {"total", "a", "b", "c"};
    static const char *const powers[] = {"active_power", "reactive_power", "apparent_power", "power_factor"};
    static const char *const others[] = {"frequency", "date", "time"};
    static const int protocols[] = {EDGECORE_PROTOCOL_DLT645_2007, EDGECORE_PROTOCOL_DLT645_1997};
    char name[48];
    for (int p = 0; p < 2; p++) {
        int protocol = protocols[p];
        for (int e = 0; e < 5; e++)
            for (int t = 0; t < 5; t++)
                for (int prev = 0; prev <= 12; prev++) {
                    if (prev) snprintf(name, sizeof name, "%s_%s_prev%d", energies[e], tariffs[t], prev);
                    else snprintf(name, sizeof name, "%s_%s", energies[e], tariffs[t]);
                    add_item(protocol, name);
                }
        for (int w = 0; w < 4; w++)
            for (int ph = 0; ph < 4; ph++) {
                snprintf(name, sizeof name, "%s_%s", powers[w], phases[ph]);
                add_item(protocol, name);
            }
        for (int ph = 1; ph < 4; ph++) {
            snprintf(name, sizeof name, "voltage_%s", phases[ph]);
            add_item(protocol, name);
            snprintf(name, sizeof name, "current_%s", phases[ph]);
            add_item(protocol, name);
        }
        for (int o = 0; o < 3; o++) add_item(protocol, others[o]);
        for (int w = 1; w <= 7; w++) {
            snprintf(name, sizeof name, "meter_status_%d", w);
            add_item(protocol, name);
        }
    }
}

static const char *item_name(int protocol, uint32_t di) {
    for (int i = 0; i < item_count; i++)
        if (items[i].protocol == protocol && items[i].di == di) return items[i].name;
    return NULL;
}

/* What both meter protocols' frames share: the check, the address (A0 first on the line, shown most
 * significant digit first), the control code: bit 7 from the meter, bit 6 abnormal, (DL/T 645) bit 5 more.
 * Returns the frame after its preamble, NULL when it is not whole. */
static const uint8_t *decode_meter(enum kind kind, const uint8_t *b, size_t n, struct decoded *d) {
    d->protocol = kind == KIND_DLT645 ? "dlt645" : "cjt188";
    size_t start, total = meter_length(kind, b, n, &start);
    d->check_ok = total == n && meter_checksum_ok(b, n, start);
    if (total == 0 || total > n) return NULL;
    const uint8_t *f = b + start;
    int first = kind == KIND_DLT645 ? 1 : 2, bytes = kind == KIND_DLT645 ? 6 : 7;
    for (int i = 0; i < bytes; i++) snprintf(d->meter + 2 * i, 3, "%02X", f[first + bytes - 1 - i]);
    d->control = f[kind == KIND_DLT645 ? 8 : 9];
    d->direction = (d->control & 0x80) ? "response" : "request";
    d->abnormal = (d->control & 0x40) != 0;
    d->more = kind == KIND_DLT645 && (d->control & 0x20) != 0;
    return f;
}

static void decode_dlt645(const uint8_t *b, size_t n, struct decoded *d) {
    const uint8_t *f = decode_meter(KIND_DLT645, b, n, d);
    if (!f) return;
    int length = f[9];
    uint8_t data[256];
    for (int i = 0; i < length; i++) data[i] = (uint8_t)(f[10 + i] - 0x33);
    if (d->abnormal) {
        if (length >= 1) d->error = data[0];
        return;
    }
    int code = f[8] & 0x1F;
    /* 2007: 0x11 read, 0x12 follow-up, 0x14 write carry a 4-byte DI; 1997: 0x01, 0x02, 0x04 a 2-byte one */
    int di_bytes = (code == 0x11 || code == 0x12 || code == 0x14) ? 4 : (code == 0x01 || code == 0x02 || code == 0x04) ? 2 : 0;
    int protocol = di_bytes == 4 ? EDGECORE_PROTOCOL_DLT645_2007 : EDGECORE_PROTOCOL_DLT645_1997;
    int skip = 0;
    if (di_bytes && length >= di_bytes) {
        uint32_t di = 0;
        for (int i = di_bytes - 1; i >= 0; i--) di = di << 8 | data[i];
        snprintf(d->di, sizeof d->di, di_bytes == 4 ? "%08X" : "%04X", (unsigned)di);
        d->item = item_name(protocol, di);
        skip = di_bytes;
    }
    char *out = d->data;
    for (int i = length - 1; i >= skip; i--, out += 2) snprintf(out, 3, "%02X", data[i]);
}

/* CJ/T 188: the meter type, the address, the control code (bit 7 from the meter, bit 6 abnormal), the DI (sent
 * low byte first: 1F 90 is 901F) and SER of a normal frame, the rest of the data as sent. */
static void decode_cjt188(const uint8_t *b, size_t n, struct decoded *d) {
    const uint8_t *f = decode_meter(KIND_CJT188, b, n, d);
    if (!f) return;
    d->meter_type = f[1];
    int length = f[10], skip = 0;
    if (!d->abnormal && length >= 3) {
        snprintf(d->di, sizeof d->di, "%02X%02X", f[12], f[11]);
        d->ser = f[13];
        skip = 3;
    }
    char *out = d->data;
    for (int i = skip; i < length; i++, out += 2) snprintf(out, 3, "%02X", f[11 + i]);
}

/* ---------------------------------------------------------------------------------------------------- */
/* Output                                                                                               */
/* ---------------------------------------------------------------------------------------------------- */

static void print_values(const struct decoded *d, const char *separator) {
    for (int i = 0; i < d->values_count; i++) {
        if (i) fputs(separator, stdout);
        if (d->values_kind == 1) printf("%u", be16(d->values + 2 * i));
        else printf("%d", (d->values[i / 8] >> (i % 8)) & 1);
    }
}

/* One decoded field: ,"key":value in JSON, " key=value" in the table. */
static void put_number(int json, const char *key, long value) { printf(json ? ",\"%s\":%ld" : " %s=%ld", key, value); }
static void put_text(int json, const char *key, const char *value) {
    printf(json ? ",\"%s\":\"%s\"" : " %s=%s", key, value);
}

static void print_frame(struct sniffer *s, const uint8_t *b, size_t n, int64_t when_mono_ns) {
    struct decoded d;
    memset(&d, 0, sizeof d);
    d.unit = d.function = d.exception = d.control = d.error = -1;
    d.address = d.count = d.value = d.meter_type = d.ser = -1;
    enum kind kind = frame_kind(s, b, n);
    if (kind == KIND_DLT645) decode_dlt645(b, n, &d);
    else if (kind == KIND_CJT188) decode_cjt188(b, n, &d);
    else decode_modbus(s, b, n, &d);
    int64_t wall = s->wall0_ns + (when_mono_ns - s->mono0_ns);
    char when[40];
    iso_time(wall, when, sizeof when);
    s->frames++;
    if (!d.check_ok) s->bad++;
    int modbus = d.protocol[0] == 'm', json = s->format == FORMAT_JSON;
    if (json) {
        printf("{\"timestamp\":\"%s\",\"ts_ns\":%lld,\"length\":%zu,\"bytes\":\"", when, (long long)wall, n);
        for (size_t i = 0; i < n; i++) printf("%02X", b[i]);
        printf("\",\"protocol\":\"%s\",\"check\":\"%s\",\"direction\":", d.protocol, d.check_ok ? "ok" : "bad");
        if (d.direction) printf("\"%s\"", d.direction);
        else printf("null");
    } else {
        printf("%s %4zu ", when, n);
        for (size_t i = 0; i < n; i++) printf("%s%02X", i ? " " : "", b[i]);
        printf("  %s %s  %s", modbus ? "crc" : "cs", d.check_ok ? "ok" : "BAD", d.protocol);
        if (d.direction) printf(" %s", d.direction);
    }
    if (modbus && d.unit >= 0) {
        put_number(json, "unit", d.unit);
        put_number(json, "function", d.function);
        if (json) put_text(json, "function_name", modbus_function_name(d.function));
        else printf("(%s)", modbus_function_name(d.function));
        if (d.exception >= 0) put_number(json, "exception", d.exception);
        if (d.address >= 0) put_number(json, "address", d.address);
        if (d.count >= 0) put_number(json, "count", d.count);
        if (d.value >= 0) put_number(json, "value", d.value);
        if (d.values_kind) {
            printf(json ? ",\"values\":[" : " values=");
            print_values(&d, ",");
            if (json) printf("]");
        }
    } else if (!modbus && d.control >= 0) {
        put_text(json, "meter", d.meter);
        if (d.meter_type >= 0) {
            if (json) put_number(json, "meter_type", d.meter_type);
            else printf(" type=0x%02X", d.meter_type);
        }
        if (json) printf(",\"control\":%d,\"abnormal\":%s,\"more\":%s", d.control, d.abnormal ? "true" : "false",
                         d.more ? "true" : "false");
        else printf(" control=0x%02X%s%s", d.control, d.abnormal ? " abnormal" : "", d.more ? " more" : "");
        if (d.di[0]) put_text(json, "di", d.di);
        if (d.item) put_text(json, "item", d.item);
        if (d.ser >= 0) put_number(json, "ser", d.ser);
        if (d.error >= 0) put_number(json, "error", d.error);
        if (json || d.data[0]) put_text(json, "data", d.data);
    }
    printf(json ? "}\n" : "\n");
    fflush(stdout);
    if (s->pcap) {
        uint32_t record[4] = {(uint32_t)(wall / 1000000000), (uint32_t)((wall % 1000000000) / 1000), (uint32_t)n,
                              (uint32_t)n};
        if (fwrite(record, sizeof record, 1, s->pcap) != 1 || fwrite(b, 1, n, s->pcap) != n || fflush(s->pcap)) {
            fprintf(stderr, "%s: %s: cannot write: %s\n", subcommand, s->pcap_path, strerror(errno));
            fclose(s->pcap);
            s->pcap = NULL;
        }
    }
}

/* The bytes since the last silence as frames; stops early once --count frames are out. */
static void flush_frames(struct sniffer *s) {
    size_t offset = 0;
    int chunk = 0;
    while (offset < s->length && (s->count == 0 || s->frames < s->count)) {
        size_t n = first_frame(s, s->buffer + offset, s->length - offset);
        while (chunk + 1 < s->chunks && s->chunk_offset[chunk + 1] <= offset) chunk++;
        print_frame(s, s->buffer + offset, n, s->chunk_ns[chunk]);
        offset += n;
    }
    s->length = 0;
    s->chunks = 0;
}

/* ---------------------------------------------------------------------------------------------------- */
/* The line                                                                                             */
/* ---------------------------------------------------------------------------------------------------- */

static speed_t baud_constant(long baud) {
    static const struct {
        long baud;
        speed_t speed;
    } SPEEDS[] = {{300, B300},       {600, B600},       {1200, B1200},     {2400, B2400},     {4800, B4800},
                  {9600, B9600},     {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
                  {230400, B230400}, {460800, B460800}, {921600, B921600}};
    for (size_t i = 0; i < sizeof SPEEDS / sizeof SPEEDS[0]; i++)
        if (SPEEDS[i].baud == baud) return SPEEDS[i].speed;
    return 0;
}

static int configure_line(int fd, speed_t speed, int parity) {
    struct termios t;
    if (tcgetattr(fd, &t) != 0) return -1;
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CREAD | CLOCAL;
    if (parity) t.c_cflag |= PARENB | (parity == 'O' ? PARODD : 0);
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY | INPCK);
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, speed);
    cfsetospeed(&t, speed);
    return tcsetattr(fd, TCSANOW, &t);
}

enum { OPT_BAUD = 1000, OPT_PARITY, OPT_GAP, OPT_PROTOCOL, OPT_PCAP, OPT_FORMAT, OPT_DURATION, OPT_COUNT };

int cmd_sniff(int argc, char **argv) {
    static const struct option OPTIONS[] = {
        {"baud", required_argument, NULL, OPT_BAUD},         {"parity", required_argument, NULL, OPT_PARITY},
        {"gap-ms", required_argument, NULL, OPT_GAP},        {"protocol", required_argument, NULL, OPT_PROTOCOL},
        {"pcap", required_argument, NULL, OPT_PCAP},         {"format", required_argument, NULL, OPT_FORMAT},
        {"duration", required_argument, NULL, OPT_DURATION}, {"count", required_argument, NULL, OPT_COUNT},
        {"help", no_argument, NULL, 'h'},                    {0, 0, 0, 0}};
    static const char *const PARITIES[] = {"N", "E", "O"};
    static const char *const PROTOCOLS[] = {"auto", "modbus", "dlt645", "cjt188"};
    static const char *const FORMATS[] = {"table", "json"};
    static struct sniffer s;
    memset(&s, 0, sizeof s);
    long baud = 0, count = 0;
    int parity = -1, protocol = PROTO_AUTO, format = FORMAT_TABLE, rc;
    double gap_ms = 0, duration = 0;
    const char *pcap_path = NULL;
    int option;
    while ((option = getopt_long(argc, argv, ":h", OPTIONS, NULL)) != -1) {
        switch (option) {
        case 'h': fputs(SNIFF_HELP, stdout); return EXIT_OK;
        case OPT_BAUD:
            if ((rc = parse_long("--baud", optarg, 1, 4000000, &baud))) return rc;
            if (!baud_constant(baud))
                return usage_error("--baud: '%s' is not one of 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, "
                                   "57600, 115200, 230400, 460800, 921600", optarg);
            break;
        case OPT_PARITY:
            if ((rc = pick("--parity", optarg, PARITIES, 3, "N, E, O", &parity))) return rc;
            break;
        case OPT_GAP:
            if ((rc = parse_double("--gap-ms", optarg, &gap_ms))) return rc;
            if (gap_ms < 0.5 || gap_ms > 10000) return usage_error("--gap-ms: '%s' is not in 0.5..10000", optarg);
            break;
        case OPT_PROTOCOL:
            if ((rc = pick("--protocol", optarg, PROTOCOLS, 4, "auto, modbus, dlt645, cjt188", &protocol))) return rc;
            break;
        case OPT_PCAP: pcap_path = optarg; break;
        case OPT_FORMAT:
            if ((rc = pick("--format", optarg, FORMATS, 2, "table, json", &format))) return rc;
            break;
        case OPT_DURATION:
            if ((rc = parse_double("--duration", optarg, &duration))) return rc;
            if (duration <= 0 || duration > 1e7) return usage_error("--duration: '%s' is not a number of seconds above 0", optarg);
            break;
        case OPT_COUNT:
            if ((rc = parse_long("--count", optarg, 1, 1000000000, &count))) return rc;
            break;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return unknown_option(argv);
        }
    }
    if (optind >= argc) return usage_error("missing DEVICE: the serial line to listen on");
    if (optind + 1 < argc) return usage_error("unexpected argument '%s': give one DEVICE", argv[optind + 1]);
    const char *device = argv[optind];
    int meters = protocol == PROTO_DLT645 || protocol == PROTO_CJT188; /* meter lines: 2400 8E1 */
    if (!baud) baud = meters ? 2400 : 9600;
    if (parity < 0) parity = meters ? 1 : 0;
    int parity_char = parity == 1 ? 'E' : parity == 2 ? 'O' : 0;
    s.protocol = (enum protocol)protocol;
    s.format = (enum format)format;
    s.count = count;
    s.char_ns = (parity_char ? 11.0 : 10.0) * 1e9 / (double)baud;
    if (gap_ms > 0) s.gap_ns = (int64_t)(gap_ms * 1e6);
    else s.gap_ns = (int64_t)fmax(3.5 * s.char_ns, 2e6);

    if ((rc = check_port(device))) return rc;
    s.fd = open(device, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (s.fd < 0) {
        fprintf(stderr, "%s: %s: cannot open the port: %s\n", subcommand, device, strerror(errno));
        return EXIT_PORT;
    }
    if (configure_line(s.fd, baud_constant(baud), parity_char) != 0) {
        fprintf(stderr, "%s: %s: not a serial line: %s\n", subcommand, device, strerror(errno));
        close(s.fd);
        return EXIT_PORT;
    }
    /* USB adapters deliver bytes in bursts (an FTDI every 16 ms by default): ask for low latency, so the
     * silences between frames survive; restored at the end. Ignored where the driver has no such setting. */
    struct serial_struct serial, low_latency;
    int restore_serial = 0;
    if (ioctl(s.fd, TIOCGSERIAL, &serial) == 0 && !(serial.flags & ASYNC_LOW_LATENCY)) {
        low_latency = serial;
        low_latency.flags |= ASYNC_LOW_LATENCY;
        restore_serial = ioctl(s.fd, TIOCSSERIAL, &low_latency) == 0;
    }
    tcflush(s.fd, TCIFLUSH);
    if (pcap_path) {
        s.pcap_path = pcap_path;
        s.pcap = fopen(pcap_path, "wbe");
        /* classic pcap: microsecond timestamps, version 2.4, snaplen 65535, link type USER0 */
        uint32_t header[6] = {0xA1B2C3D4u, 2u | 4u << 16, 0, 0, 65535, LINKTYPE_USER0};
        if (!s.pcap || fwrite(header, sizeof header, 1, s.pcap) != 1 || fflush(s.pcap)) {
            fprintf(stderr, "%s: %s: cannot write the pcap file: %s\n", subcommand, pcap_path, strerror(errno));
            if (s.pcap) fclose(s.pcap);
            close(s.fd);
            return EXIT_RUNTIME;
        }
    }
    build_items();
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    s.mono0_ns = mono_ns();
    s.wall0_ns = (int64_t)rt.tv_sec * 1000000000 + rt.tv_nsec;
    int64_t end_ns = duration > 0 ? s.mono0_ns + (int64_t)(duration * 1e9) : 0;
    int64_t hold_until = 0; /* an unfinished frame waits for its missing bytes until then */
    int result = EXIT_OK;
    fprintf(stderr, "%s: listening on %s at %ld %s, a frame ends after %.1f ms of silence\n", subcommand, device,
            baud, parity_char == 'E' ? "8E1" : parity_char == 'O' ? "8O1" : "8N1", s.gap_ns / 1e6);
    while (!interrupted && (count == 0 || s.frames < count)) {
        int64_t now = mono_ns();
        if (end_ns && now >= end_ns) break;
        int64_t wait = 200000000; /* check the clock and signals at least every 200 ms */
        if (s.length) {
            int64_t due = s.last_byte_ns + s.gap_ns;
            if (hold_until > due) due = hold_until;
            if (now >= due) {
                size_t missing = hold_until ? 0 : missing_bytes(&s, s.buffer, s.length);
                if (missing) {
                    hold_until = s.last_byte_ns + s.gap_ns + (int64_t)(missing * s.char_ns) + 20000000;
                    continue;
                }
                flush_frames(&s);
                hold_until = 0;
                continue;
            }
            wait = due - now;
        }
        if (end_ns && end_ns - now < wait) wait = end_ns - now;
        struct timespec timeout = {(time_t)(wait / 1000000000), (long)(wait % 1000000000)};
        struct pollfd p = {s.fd, POLLIN, 0};
        int ready = ppoll(&p, 1, &timeout, NULL);
        if (ready < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "%s: %s: %s\n", subcommand, device, strerror(errno));
            result = EXIT_RUNTIME;
            break;
        }
        if (ready == 0) continue;
        if (s.length == BUFFER_SIZE || s.chunks == MAX_CHUNKS) {
            flush_frames(&s);
            hold_until = 0;
        }
        ssize_t got = read(s.fd, s.buffer + s.length, BUFFER_SIZE - s.length);
        int64_t at = mono_ns();
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (got <= 0) {
            fprintf(stderr, "%s: %s: the line failed: %s\n", subcommand, device, got < 0 ? strerror(errno) : "hung up");
            result = EXIT_RUNTIME;
            break;
        }
        s.chunk_offset[s.chunks] = s.length;
        s.chunk_ns[s.chunks] = at;
        s.chunks++;
        s.length += (size_t)got;
        s.last_byte_ns = at;
        hold_until = 0; /* new bytes: look at the whole again at the next silence */
    }
    if (s.length) flush_frames(&s);
    if (restore_serial) ioctl(s.fd, TIOCSSERIAL, &serial);
    close(s.fd);
    if (s.pcap) {
        if (fclose(s.pcap) != 0) {
            fprintf(stderr, "%s: %s: cannot write: %s\n", subcommand, pcap_path, strerror(errno));
            result = EXIT_RUNTIME;
        }
    } else if (pcap_path) {
        result = EXIT_RUNTIME; /* a write failed, said above */
    }
    fprintf(stderr, "%s: %ld frames, %ld with a bad CRC/checksum, %.1f s\n", subcommand, s.frames, s.bad,
            (mono_ns() - s.mono0_ns) / 1e9);
    free(items);
    items = NULL;
    item_count = 0;
    return result;
}
