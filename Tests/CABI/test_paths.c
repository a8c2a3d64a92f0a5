/* Paths are bytes: a site file, a simulated chip folder and a checkpoint whose names are not valid UTF-8
 * are opened as given, byte for byte, and messages name them with the invalid bytes escaped ("\xFF"). */
#include "cabi_test.h"

#include <fcntl.h>
#include <sys/stat.h>

static int contains(const char *text, const char *part) { return text && strstr(text, part) != NULL; }

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* `path` as EdgeCore's messages print it: bytes of 0x80 and above that are not part of a valid UTF-8
 * sequence as \xHH. The tests' paths hold only ASCII and lone bytes. */
static void escaped(const char *path, char *out, size_t size) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p && n + 5 < size; p++)
        n += (size_t)(*p >= 0x80 ? snprintf(out + n, size - n, "\\x%02X", *p) : snprintf(out + n, size - n, "%c", *p));
    out[n] = '\0';
}

static void remove_folder(const char *dir) {
    char command[200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK_EQ(system(command), 0);
}

static const char site[] = "buses:\n"
                           "  - name: plant\n"
                           "    type: tcp\n"
                           "    host: 127.0.0.1\n"
                           "    devices:\n"
                           "      - name: meter\n"
                           "        channels:\n"
                           "          - {name: power, address: 0}\n";

/* A site file in a folder named with byte 0xFF, then with a lone 0xC3 (a lead byte without its
 * continuation): it loads; a broken one is reported as "<path with \xFF>:LINE: ...". */
static void yaml_file_in_non_utf8_folder(void) {
    static const char *const templates[] = {"/tmp/edgecore-paths-\xff-XXXXXX", "/tmp/edgecore-paths-\xc3-XXXXXX"};
    for (size_t i = 0; i < sizeof templates / sizeof templates[0]; i++) {
        char dir[64], path[96], shown[160], where[192];
        strcpy(dir, templates[i]);
        CHECK(mkdtemp(dir) != NULL);
        snprintf(path, sizeof path, "%s/site.yaml", dir);
        put(path, site);
        struct edgecore_engine *engine = NULL;
        CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
        int rc = edgecore_engine_load_yaml(engine, path);
        CHECK_EQ(rc, EDGECORE_OK);
        if (rc != EDGECORE_OK) fprintf(stderr, "  %s\n", edgecore_engine_last_error());
        uint32_t channel = 99;
        CHECK_EQ(edgecore_engine_find_channel(engine, "power", &channel), EDGECORE_OK);

        put(path, "buses:\n  - name: broken\n    type: [\n");
        CHECK_EQ(edgecore_engine_load_yaml(engine, path), EDGECORE_E_CONFIG_FILE);
        escaped(path, shown, sizeof shown);
        snprintf(where, sizeof where, "%s:4: ", shown);
        if (!contains(edgecore_engine_last_error(), where)) {
            CHECK(!"the message names the file, its invalid byte escaped, and the line");
            fprintf(stderr, "  expected '%s' in: %s\n", where, edgecore_engine_last_error());
        }
        snprintf(path, sizeof path, "%s/absent.yaml", dir);
        CHECK_EQ(edgecore_engine_load_yaml(engine, path), -ENOENT);
        escaped(path, shown, sizeof shown);
        CHECK(contains(edgecore_engine_last_error(), shown));
        edgecore_engine_destroy(engine);
        remove_folder(dir);
    }
}

/* One engine run on the simulated chip "sim:DIR" with a pulse counter saved in `checkpoint`: 50 rising edges,
 * then stop (which writes the checkpoint). Returns the count once it reached `expected` (at most 5 s). */
static uint64_t run_counter(const char *dir, int edges_fd, uint32_t *sequence, const char *checkpoint,
                            uint64_t expected) {
    char spec[96];
    snprintf(spec, sizeof spec, "sim:%s", dir);
    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    struct edgecore_gpio_chip_config chip;
    edgecore_gpio_chip_config_init(&chip);
    chip.name = "sim";
    chip.chip = spec;
    chip.checkpoint_path = checkpoint;
    uint32_t bus = 99, meter = 99;
    CHECK_EQ(edgecore_engine_add_gpio_chip(engine, &chip, &bus), EDGECORE_OK);
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.name = "meter";
    line.line_name = "s0";
    line.bus = bus;
    line.kind = EDGECORE_GPIO_PULSES;
    line.interval_ms = 20;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, &meter), EDGECORE_OK);
    int rc = edgecore_engine_start(engine);
    CHECK_EQ(rc, EDGECORE_OK);
    if (rc != EDGECORE_OK) fprintf(stderr, "  %s\n", edgecore_engine_last_error());
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    for (int i = 0; i < 100; i++, t += 100000) {
        unsigned char record[16];
        uint32_t level = i % 2 == 0;
        *sequence += 1;
        memcpy(record, &t, 8);
        memcpy(record + 8, &level, 4);
        memcpy(record + 12, sequence, 4);
        CHECK(write(edges_fd, record, sizeof record) == (ssize_t)sizeof record);
    }
    struct edgecore_pulse_stats stats;
    memset(&stats, 0, sizeof stats);
    for (int64_t end = cabi_monotonic_ms() + 5000; rc == EDGECORE_OK && cabi_monotonic_ms() < end; cabi_sleep_ms(1)) {
        CHECK_EQ(edgecore_engine_pulse_stats(engine, meter, &stats), EDGECORE_OK);
        if (stats.count >= expected) break;
    }
    if (rc == EDGECORE_OK) CHECK_EQ(edgecore_engine_stop(engine), EDGECORE_OK);
    edgecore_engine_destroy(engine);
    return stats.count;
}

/* A simulated chip folder named with 0xFF and a checkpoint named with 0xFE: the chip opens, the checkpoint
 * is written under exactly that name and read back by the next run; a missing such folder is -ENOENT
 * with the name escaped in the message. */
static void sim_chip_and_checkpoint_in_non_utf8_folder(void) {
    char dir[64] = "/tmp/edgecore-paths-\xff-XXXXXX", path[160], checkpoint[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/lines", dir);
    put(path, "s0\n");
    snprintf(path, sizeof path, "%s/0.value", dir);
    put(path, "0\n");
    snprintf(path, sizeof path, "%s/0.edges", dir);
    CHECK_EQ(mkfifo(path, 0600), 0);
    int edges_fd = open(path, O_RDWR | O_NONBLOCK);
    CHECK(edges_fd >= 0);
    snprintf(checkpoint, sizeof checkpoint, "%s/pulses-\xfe.checkpoint", dir);
    uint32_t sequence = 0;

    CHECK_EQ(run_counter(dir, edges_fd, &sequence, checkpoint, 50), 50);
    CHECK_EQ(run_counter(dir, edges_fd, &sequence, checkpoint, 100), 100);
    FILE *f = fopen(checkpoint, "r");
    CHECK(f != NULL);
    if (f) {
        char text[64] = "";
        CHECK(fgets(text, sizeof text, f) != NULL);
        CHECK_STR(text, "meter\t100\n");
        fclose(f);
    }
    snprintf(path, sizeof path, "%s.tmp", checkpoint);
    CHECK(access(path, F_OK) != 0);

    struct edgecore_engine *engine = NULL;
    CHECK_EQ(edgecore_engine_create(NULL, &engine), EDGECORE_OK);
    struct edgecore_gpio_chip_config chip;
    edgecore_gpio_chip_config_init(&chip);
    chip.name = "sim";
    chip.chip = "sim:/tmp/edgecore-no-such-\xff-chip";
    uint32_t bus = 99;
    CHECK_EQ(edgecore_engine_add_gpio_chip(engine, &chip, &bus), EDGECORE_OK);
    struct edgecore_gpio_line_config line;
    edgecore_gpio_line_config_init(&line);
    line.name = "a";
    line.bus = bus;
    CHECK_EQ(edgecore_engine_add_gpio_line(engine, &line, NULL), EDGECORE_OK);
    CHECK_EQ(edgecore_engine_start(engine), -ENOENT);
    CHECK(contains(edgecore_engine_last_error(), "gpio chip 'sim:/tmp/edgecore-no-such-\\xFF-chip': "));
    CHECK(contains(edgecore_engine_last_error(), "/tmp/edgecore-no-such-\\xFF-chip/lines"));
    edgecore_engine_destroy(engine);

    if (edges_fd >= 0) close(edges_fd);
    remove_folder(dir);
}

int main(void) {
    RUN(yaml_file_in_non_utf8_folder);
    RUN(sim_chip_and_checkpoint_in_non_utf8_folder);
    return cabi_finish("test_paths");
}
