/* greenhouse_control.h - a greenhouse controller module on libEdgeCore: drip irrigation by soil moisture,
 * fertigation to a target EC, a main pump stopped by the tank's float switch, a vent fan by temperature,
 * CO2 and humidity alarms. It fails safe: every rule acts only on readings whose status is ok and which are
 * younger than the rules' max age; anything else (timeout, offline, sentinel, out of range, silence) and a
 * failed write drive the actuators concerned to their safe state and raise an alarm reading.
 *
 * Rules file format and behaviour: docs/greenhouse-controller.md. Links libEdgeCore only (C11).
 *
 * Use (one thread, or see the thread rules below):
 *   gc_load(engine, "rules.yaml", 1.0, stderr, &c, error, sizeof error);   stopped engine, site loaded
 *   gc_prepare(engine) ... edgecore_engine_start(engine); gc_begin(c, now)
 *   loop: n = edgecore_engine_drain(...); gc_feed(c, readings, n); gc_tick(c, now_ns)  every gc_tick_ms(c)
 *   gc_safe_stop(c) before edgecore_engine_stop; gc_free(c) before edgecore_engine_destroy.
 * Threads: gc_feed, gc_tick, gc_begin and gc_safe_stop from one thread at a time (the consumer thread that
 * drains the ring); the engine's other threads (a gateway's command writer) may write the override
 * channels meanwhile: the controller sees those writes as readings.
 */
#ifndef GREENHOUSE_CONTROL_H
#define GREENHOUSE_CONTROL_H

#include <edgecore.h>
#include <stdint.h>
#include <stdio.h>

struct gc_controller;

/**
 * Read and check a rules file against a configured, stopped engine: every channel it names must exist,
 * actuators and the decision, alarm and override channels must be writable; bands, times and interlocks
 * are checked. time_scale: controller seconds per real second (1 normally; K > 1 for a simulated site run
 * K times faster): every duration of the rules (min on/off, max open, override timeout, day length, reading
 * ages) is measured on that clock. log: decisions and faults, one line each (NULL: quiet).
 * Returns 0 and *out, or -1 with error holding "FILE:LINE: reason" (never aborts).
 */
int gc_load(struct edgecore_engine *engine, const char *rules_path, double time_scale, FILE *log,
            struct gc_controller **out, char *error, size_t error_size);

/** The tick period the rules ask for (ms, real time). */
int gc_tick_ms(const struct gc_controller *c);

/** After edgecore_engine_start: write every actuator's safe state, alarms 0 and overrides -1 (auto).
 *  Returns 0, or the number of writes that failed (their alarms are raised). */
int gc_begin(struct gc_controller *c, int64_t now_ns);

/** Hand the controller readings drained from the engine (any channels; unknown ones are ignored). */
void gc_feed(struct gc_controller *c, const struct edgecore_reading *readings, size_t count);

/** Decide and act at now_ns (CLOCK_REALTIME, ns since the epoch, as readings' timestamps). Returns the
 *  number of actuator writes that failed in this tick. */
int gc_tick(struct gc_controller *c, int64_t now_ns);

/** Drive every actuator to its safe state (dosing pump, main pump, valves, fan), with reason "shutdown".
 *  Returns the number of writes that failed. */
int gc_safe_stop(struct gc_controller *c);

/** Whether channel is one of the rules' override channels (an override file may write only those). */
int gc_is_override(const struct gc_controller *c, uint32_t channel);

/** Free the controller (NULL does nothing); before edgecore_engine_destroy. */
void gc_free(struct gc_controller *c);

#endif
