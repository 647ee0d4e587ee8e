/*
 * insncount: a QEMU TCG plugin that counts executed guest instructions.
 *
 *   -plugin insncount.so[,mark=0xADDR] -d plugin -D log
 *
 * At exit it prints "insncount: total N". With mark=ADDR (the firmware's `bench_mark`), it also
 * prints "insncount: mark K at N (+D)" each time the instruction at ADDR executes, D being the
 * instructions executed since the previous mark. Counts depend only on the guest program, never
 * on host speed, so they are usable as regression figures.
 *
 * Debian's QEMU is built with plugin support but ships no qemu-plugin.h, so the few API entry
 * points used here are declared below. Only callbacks are used (the inline-op API changed in
 * QEMU 9). PLUGIN_API selects the declared API version: 1 for QEMU 7.2..8.x, 2 for QEMU >= 9.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PLUGIN_API
#define PLUGIN_API 1
#endif
#define PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t plugin_id;
struct qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum plugin_cb_flags { CB_NO_REGS, CB_R_REGS, CB_RW_REGS };
typedef void (*tb_trans_cb)(plugin_id, struct qemu_plugin_tb *);
typedef void (*vcpu_udata_cb)(unsigned int vcpu, void *udata);
typedef void (*udata_cb)(plugin_id, void *udata);

void qemu_plugin_register_vcpu_tb_trans_cb(plugin_id, tb_trans_cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, vcpu_udata_cb, enum plugin_cb_flags,
                                          void *);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, vcpu_udata_cb, enum plugin_cb_flags,
                                            void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(plugin_id, udata_cb, void *);
void qemu_plugin_outs(const char *);

PLUGIN_EXPORT int qemu_plugin_version = PLUGIN_API;

/* Cortex-M boards have a single vCPU: plain counters suffice. */
static uint64_t executed;
static uint64_t at_last_mark;
static unsigned marks_seen;
static uint64_t mark_vaddr = UINT64_MAX;

/* A translated block ends at every branch, so adding its length when it starts is exact unless
 * an exception cuts the block short (the measured code takes none). */
static void block_executes(unsigned int vcpu, void *n_insns)
{
    (void)vcpu;
    executed += (uintptr_t)n_insns;
}

static void mark_executes(unsigned int vcpu, void *udata)
{
    char line[128];
    (void)vcpu;
    (void)udata;
    snprintf(line, sizeof line, "insncount: mark %u at %llu (+%llu)\n", marks_seen,
             (unsigned long long)executed, (unsigned long long)(executed - at_last_mark));
    qemu_plugin_outs(line);
    at_last_mark = executed;
    marks_seen++;
}

static void block_translated(plugin_id id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_cb(tb, block_executes, CB_NO_REGS, (void *)(uintptr_t)n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        if (qemu_plugin_insn_vaddr(insn) == mark_vaddr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, mark_executes, CB_NO_REGS, NULL);
        }
    }
}

static void guest_exits(plugin_id id, void *udata)
{
    char line[64];
    (void)id;
    (void)udata;
    snprintf(line, sizeof line, "insncount: total %llu\n", (unsigned long long)executed);
    qemu_plugin_outs(line);
}

PLUGIN_EXPORT int qemu_plugin_install(plugin_id id, const struct qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "mark=", 5) == 0) {
            /* Symbol addresses of Thumb functions carry bit 0; instruction addresses do not. */
            mark_vaddr = strtoull(argv[i] + 5, NULL, 0) & ~(uint64_t)1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, block_translated);
    qemu_plugin_register_atexit_cb(id, guest_exits, NULL);
    return 0;
}
