/* The gpio-sim world of the VM tests (Tests/GPIO/vm/README.md): the GPIOSIM_* environment, and bank 0's
 * lines driven and read through sysfs: sim_gpioN/pull (the outside pull of an input), sim_gpioN/value (what
 * an output drives, valid while the line is requested). Include after ../CABI/cabi_test.h (CHECK). */
#ifndef GPIO_SIM_H
#define GPIO_SIM_H

static const char *env(const char *name) {
    const char *value = getenv(name);
    return value ? value : "";
}

static void sim_write(int offset, const char *attribute, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio%d/%s", env("GPIOSIM_SYSFS0"), offset, attribute);
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (!file) return;
    fputs(text, file);
    fclose(file);
}

static int sim_read(int offset, const char *attribute) {
    char path[512], text[32] = "";
    snprintf(path, sizeof path, "%s/sim_gpio%d/%s", env("GPIOSIM_SYSFS0"), offset, attribute);
    FILE *file = fopen(path, "r");
    CHECK(file != NULL);
    if (!file) return -1;
    if (!fgets(text, sizeof text, file)) text[0] = '\0';
    fclose(file);
    if (!strncmp(text, "pull-up", 7)) return 1;
    if (!strncmp(text, "pull-down", 9)) return 0;
    return atoi(text);
}

#endif
