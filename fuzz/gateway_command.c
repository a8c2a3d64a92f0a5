/* Fuzz target: a command payload from the MQTT command topic (hostile: anyone who may publish there) through
 * the gateway's strict JSON reader (examples/edgecore_gateway.c, parse_command). Properties: a refusal has a
 * message that starts with "malformed command:"; an accepted command has a finite value, an id of at most 64
 * bytes, and survives a round trip: its id, channel and value written as JSON (as the answer writes them)
 * read back the same. A C target (clang -fsanitize=fuzzer,address), built by fuzz/Makefile. */
#define main gateway_main
#include "../examples/edgecore_gateway.c"
#undef main

static void check(bool condition, const char *what) {
    if (!condition) {
        fprintf(stderr, "gateway_command: property broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > COMMAND_PAYLOAD_MAX) return 0;  /* refused by size before it is read */
    struct command command;
    char error[400];
    memset(error, 0x55, sizeof error);
    if (!parse_command((const char *)data, size, &command, error, sizeof error)) {
        check(memchr(error, 0, sizeof error) != NULL, "the message is terminated");
        check(!strncmp(error, "malformed command: ", 19), "a refusal says it is malformed");
        return 0;
    }
    check(isfinite(command.value), "the value is finite");
    check(strlen(command.id) <= ID_MAX, "the id fits");
    check(strlen(command.channel_name) < sizeof command.channel_name, "the channel name fits");
    struct text t = {0};
    bool ok = text_put(&t, "{\"id\":") && text_json_string(&t, command.id, strlen(command.id)) &&
              text_put(&t, ",\"channel\":") &&
              text_json_string(&t, command.channel_name, strlen(command.channel_name)) &&
              text_printf(&t, ",\"value\":%.17g}", command.value);
    check(ok, "the answer is written");
    struct command again;
    bool parsed = parse_command(t.data, t.length, &again, error, sizeof error);
    if (!parsed) fprintf(stderr, "%s\n%s\n", t.data, error);
    check(parsed, "the written command reads back");
    check(!strcmp(again.id, command.id) && !strcmp(again.channel_name, command.channel_name), "id and channel round-trip");
    check(again.value == command.value, "the value round-trips");
    free(t.data);
    return 0;
}
