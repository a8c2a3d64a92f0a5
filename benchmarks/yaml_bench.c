// Site-file loading times (`make -C benchmarks yaml`): edgecore_engine_load_yaml on large and hostile files
// generated here, each against libyaml alone building the same file's document (yaml_parser_load), the
// floor any loader on libyaml pays. Loading must be linear: every case below must load (or be refused)
// in under a second.
//
//   unknown-keys   40,000 unknown keys in the top mapping      refused (EDGECORE_E_CONFIG_FILE)
//   channels       20,000 channels on 20 devices              loads
//   gpio-lines     20,000 GPIO lines on one chip              loads
//   devices        64 buses x 247 devices (unit ids)         loads
//   holes          10,000 channels, then a device with 10,000 holes and 10,000 channels between them: loads
//   nested         200 KB of nested flow sequences [[[...]]]  refused (depth limit); libyaml alone would
//                                                             take tens of seconds, so it is not timed here
#define _POSIX_C_SOURCE 200809L
#include <edgecore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/// libyaml alone: the whole file into a document and freed. Seconds, or -1 on a syntax error.
static double libyaml_alone(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) return -1;
    yaml_parser_t parser;
    yaml_document_t document;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    double start = now();
    int ok = yaml_parser_load(&parser, &document);
    if (ok) yaml_document_delete(&document);
    double took = now() - start;
    yaml_parser_delete(&parser);
    fclose(file);
    return ok ? took : -1;
}

static int failures = 0;

static void run(const char *name, const char *path, int expected, int time_reference) {
    struct edgecore_engine *engine = NULL;
    if (edgecore_engine_create(NULL, &engine) != 0) {
        fprintf(stderr, "engine_create failed\n");
        exit(1);
    }
    double start = now();
    int rc = edgecore_engine_load_yaml(engine, path);
    double took = now() - start;
    edgecore_engine_destroy(engine);
    double reference = time_reference ? libyaml_alone(path) : -1;
    int ok = rc == expected && took < 1.0;
    if (!ok) failures++;
    if (reference > 0) {
        printf("%-13s load %7.3f s   libyaml alone %7.3f s   (%.1fx)   rc %d   %s\n", name, took, reference,
               took / reference, rc, ok ? "ok" : "FAILED");
    } else {
        printf("%-13s load %7.3f s   libyaml alone    (not timed)        rc %d   %s\n", name, took, rc,
               ok ? "ok" : "FAILED");
    }
    if (rc != expected) printf("    expected rc %d: %s\n", expected, edgecore_engine_last_error());
    else if (rc != 0) printf("    %.160s\n", edgecore_engine_last_error());
}

static FILE *create(const char *path) {
    FILE *file = fopen(path, "w");
    if (!file) {
        perror(path);
        exit(1);
    }
    return file;
}

int main(void) {
    char directory[] = "/tmp/edgecore-yaml-bench-XXXXXX";
    if (!mkdtemp(directory)) {
        perror("mkdtemp");
        return 1;
    }
    char path[256];

    snprintf(path, sizeof path, "%s/unknown-keys.yaml", directory);
    FILE *file = create(path);
    fprintf(file, "buses: []\n");
    for (int i = 0; i < 40000; i++) fprintf(file, "key%05d: 1\n", i);
    fclose(file);
    run("unknown-keys", path, EDGECORE_E_CONFIG_FILE, 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/channels.yaml", directory);
    file = create(path);
    fprintf(file, "buses:\n  - name: plc\n    type: tcp\n    host: 127.0.0.1\n    devices:\n");
    for (int d = 0; d < 20; d++) {
        fprintf(file, "      - name: dev%02d\n        unit_id: %d\n        channels:\n", d, d + 1);
        for (int c = 0; c < 1000; c++) {
            fprintf(file, "          - {name: dev%02d.ch%04d, function: input, address: %d, type: u16, unit: V}\n",
                    d, c, c);
        }
    }
    fclose(file);
    run("channels", path, 0, 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/gpio-lines.yaml", directory);
    file = create(path);
    fprintf(file, "buses:\n  - name: io\n    type: gpio\n    chip: gpiochip0\n    lines:\n");
    for (int l = 0; l < 20000; l++) {
        if (l % 2) fprintf(file, "      - {name: line%05d, offset: %d}\n", l, l);
        else fprintf(file, "      - {name: line%05d, line_name: GPIO%d}\n", l, l);
    }
    fclose(file);
    run("gpio-lines", path, 0, 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/devices.yaml", directory);
    file = create(path);
    fprintf(file, "buses:\n");
    for (int b = 0; b < (int)EDGECORE_RING_LANES_MAX; b++) {
        fprintf(file, "  - name: bus%02d\n    type: tcp\n    host: 127.0.0.1\n    devices:\n", b);
        for (int u = 1; u <= 247; u++) fprintf(file, "      - {name: b%02d.u%03d, unit_id: %d}\n", b, u, u);
    }
    fclose(file);
    run("devices", path, 0, 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/holes.yaml", directory);
    file = create(path);
    fprintf(file, "buses:\n  - name: plc\n    type: tcp\n    host: 127.0.0.1\n    devices:\n");
    fprintf(file, "      - name: before\n        unit_id: 1\n        channels:\n");
    for (int c = 0; c < 10000; c++) fprintf(file, "          - {name: before.ch%05d, address: %d}\n", c, c);
    fprintf(file, "      - name: holey\n        unit_id: 2\n        holes:\n");
    for (int h = 0; h < 10000; h++) fprintf(file, "          - {function: holding, first: %d}\n", 2 * h);
    fprintf(file, "        channels:\n");
    for (int c = 0; c < 10000; c++) fprintf(file, "          - {name: holey.ch%05d, address: %d}\n", c, 2 * c + 1);
    fclose(file);
    run("holes", path, 0, 1);
    unlink(path);

    snprintf(path, sizeof path, "%s/nested.yaml", directory);
    file = create(path);
    for (int i = 0; i < 100000; i++) fputc('[', file);
    for (int i = 0; i < 100000; i++) fputc(']', file);
    fputc('\n', file);
    fclose(file);
    run("nested", path, EDGECORE_E_CONFIG_FILE, 0);
    unlink(path);

    rmdir(directory);
    if (failures) printf("%d case(s) FAILED (wrong result or 1 s or more)\n", failures);
    return failures ? 1 : 0;
}
