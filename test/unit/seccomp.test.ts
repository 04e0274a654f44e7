// The seccomp compiler, run by a small classic-BPF interpreter over seccomp_data:
// every comparison on both 32-bit halves, rule order, the architecture checks, and
// the errors a malformed profile gets. The kernel's side is test/security/seccomp.test.ts.
import { describe, expect, test } from "bun:test";
import { compileSeccomp } from "../../src/setup/seccomp/bpf.ts";
import { isOtherArchName, syscallNumbers } from "../../src/setup/seccomp/numbers.ts";
import { defaultSeccomp } from "../../src/spec/seccomp-default.ts";
import { seccompFromProfile } from "../../src/spec/seccomp-profile.ts";
import { DEFAULT_CAPABILITIES, CAPABILITIES } from "../../src/spec/capabilities.ts";
import type { LinuxSeccomp } from "../../src/spec/types.ts";
import { knownFilter } from "../../src/spec/default-filter.ts";

const AUDIT_X64 = 0xc000003e;
const AUDIT_I386 = 0x40000003;
const ALLOW = 0x7fff0000;
const ERRNO = (e: number) => (0x00050000 | e) >>> 0;
const KILL_PROCESS = 0x80000000;

/** Runs a filter on (nr, arch, args) and returns the SECCOMP_RET_* word. */
function run(filter: Uint8Array, nr: number, args: bigint[] = [], arch = AUDIT_X64): number {
  const data = new DataView(new ArrayBuffer(64));
  data.setUint32(0, nr, true);
  data.setUint32(4, arch, true);
  for (const [i, a] of args.entries()) data.setBigUint64(16 + i * 8, a, true);
  const v = new DataView(filter.buffer, filter.byteOffset, filter.byteLength);
  let A = 0;
  for (let pc = 0; pc < filter.length / 8; pc++) {
    const code = v.getUint16(pc * 8, true);
    const jt = v.getUint8(pc * 8 + 2);
    const jf = v.getUint8(pc * 8 + 3);
    const k = v.getUint32(pc * 8 + 4, true);
    switch (code) {
      case 0x20:
        A = data.getUint32(k, true);
        break;
      case 0x54:
        A = (A & k) >>> 0;
        break;
      case 0x05:
        pc += k;
        break;
      case 0x15:
        pc += A === k ? jt : jf;
        break;
      case 0x25:
        pc += A > k ? jt : jf;
        break;
      case 0x35:
        pc += A >= k ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`opcode ${code}`);
    }
  }
  throw new Error("ran off the end");
}

const NR: Record<string, number> = Object.fromEntries(syscallNumbers("x64"));
const compile = (s: LinuxSeccomp) => compileSeccomp(s, "x64").filter;

describe("seccomp compiler", () => {
  test("listed calls get their action, others the default; the default errno is EPERM", () => {
    const f = compile({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["read", "write"], action: "SCMP_ACT_ALLOW" },
        { names: ["mkdir"], action: "SCMP_ACT_ERRNO", errnoRet: 13 },
      ],
    });
    expect(run(f, NR.read!)).toBe(ALLOW);
    expect(run(f, NR.write!)).toBe(ALLOW);
    expect(run(f, NR.mkdir!)).toBe(ERRNO(13));
    expect(run(f, NR.mount!)).toBe(ERRNO(1));
  });

  test("another ABI gets the default action, or is killed when the default allows", () => {
    const deny = compile({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] });
    expect(run(deny, NR.read!, [], AUDIT_I386)).toBe(ERRNO(1));
    expect(run(deny, NR.read! | 0x40000000)).toBe(ERRNO(1));
    const open = compile({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mount"], action: "SCMP_ACT_ERRNO" }] });
    expect(run(open, NR.read!, [], AUDIT_I386)).toBe(KILL_PROCESS);
    expect(run(open, NR.read!)).toBe(ALLOW);
  });

  const cases: Array<[string, number, number | undefined, bigint, boolean]> = [
    ["SCMP_CMP_EQ", 5, undefined, 5n, true],
    ["SCMP_CMP_EQ", 5, undefined, 5n + (1n << 32n), false],
    ["SCMP_CMP_NE", 5, undefined, 5n + (1n << 32n), true],
    ["SCMP_CMP_NE", 5, undefined, 5n, false],
    ["SCMP_CMP_GT", 2 ** 32, undefined, 2n ** 32n + 1n, true],
    ["SCMP_CMP_GT", 2 ** 32, undefined, 2n ** 32n, false],
    ["SCMP_CMP_GT", 2 ** 32, undefined, 0xffffffffn, false],
    ["SCMP_CMP_GE", 2 ** 32, undefined, 2n ** 32n, true],
    ["SCMP_CMP_GE", 2 ** 32, undefined, 0xffffffffn, false],
    ["SCMP_CMP_LT", 2 ** 32 + 7, undefined, 2n ** 32n + 6n, true],
    ["SCMP_CMP_LT", 2 ** 32 + 7, undefined, 2n ** 32n + 7n, false],
    ["SCMP_CMP_LT", 2 ** 32 + 7, undefined, 0xffffffffffn, false],
    ["SCMP_CMP_LT", 2 ** 32 + 7, undefined, 9n, true],
    ["SCMP_CMP_LE", 2 ** 32 + 7, undefined, 2n ** 32n + 7n, true],
    ["SCMP_CMP_LE", 2 ** 32 + 7, undefined, 2n ** 32n + 8n, false],
    ["SCMP_CMP_MASKED_EQ", 0x7e020000, 0, 0x00011200n, true],
    ["SCMP_CMP_MASKED_EQ", 0x7e020000, 0, 0x10000000n, false],
    ["SCMP_CMP_MASKED_EQ", 2 ** 33 + 1, 2 ** 33, 2n ** 33n + 2n, true],
  ];
  for (const [op, value, valueTwo, arg, hit] of cases) {
    test(`${op} ${value}${valueTwo !== undefined ? `/${valueTwo}` : ""} on ${arg}: ${hit ? "matches" : "does not"}`, () => {
      const f = compile({
        defaultAction: "SCMP_ACT_ALLOW",
        syscalls: [{ names: ["kill"], action: "SCMP_ACT_ERRNO", errnoRet: 38, args: [{ index: 1, value, valueTwo, op }] }],
      });
      expect(run(f, NR.kill!, [0n, arg])).toBe(hit ? ERRNO(38) : ALLOW);
    });
  }

  test("all of a rule's conditions must hold; a conditional rule goes before an unconditional one", () => {
    const f = compile({
      defaultAction: "SCMP_ACT_ERRNO",
      syscalls: [
        { names: ["kill"], action: "SCMP_ACT_ALLOW" },
        {
          names: ["kill"],
          action: "SCMP_ACT_ERRNO",
          errnoRet: 3,
          args: [
            { index: 0, value: 1, op: "SCMP_CMP_EQ" },
            { index: 1, value: 9, op: "SCMP_CMP_EQ" },
          ],
        },
      ],
    });
    expect(run(f, NR.kill!, [1n, 9n])).toBe(ERRNO(3));
    expect(run(f, NR.kill!, [1n, 15n])).toBe(ALLOW);
    expect(run(f, NR.kill!, [2n, 9n])).toBe(ALLOW);
  });

  test("the default profile: docker's list, namespaces only with CAP_SYS_ADMIN, clone3 falls back", () => {
    const f = compile(defaultSeccomp(DEFAULT_CAPABILITIES, "x64"));
    for (const n of ["read", "openat", "execve", "socket", "capset", "setresuid", "rt_sigtimedwait", "close_range", "faccessat"])
      expect(run(f, NR[n]!)).toBe(ALLOW);
    for (const n of [
      "mount",
      "unshare",
      "setns",
      "keyctl",
      "add_key",
      "bpf",
      "perf_event_open",
      "userfaultfd",
      "kexec_load",
      "open_by_handle_at",
      "init_module",
    ])
      expect(run(f, NR[n]!)).toBe(ERRNO(1));
    expect(run(f, NR.clone!, [0x11n])).toBe(ALLOW);
    expect(run(f, NR.clone!, [0x10000000n /* CLONE_NEWUSER */])).toBe(ERRNO(1));
    expect(run(f, NR.clone3!)).toBe(ERRNO(38));
    expect(run(f, NR.personality!, [8n])).toBe(ALLOW);
    expect(run(f, NR.personality!, [0x0040000n /* ADDR_NO_RANDOMIZE */])).toBe(ERRNO(1));
    const admin = compile(defaultSeccomp(CAPABILITIES, "x64"));
    expect(run(admin, NR.mount!)).toBe(ALLOW);
    expect(run(admin, NR.clone!, [0x10000000n])).toBe(ALLOW);
    expect(run(admin, NR.keyctl!)).toBe(ERRNO(1));
  });

  test("a profile's unknown names, actions, comparisons and flags get one line naming them", () => {
    const bad = (s: unknown, ...parts: string[]) => {
      let msg = "";
      try {
        compileSeccomp(s as LinuxSeccomp, "x64");
      } catch (e) {
        msg = (e as Error).message;
      }
      for (const p of parts) expect(msg).toContain(p);
      expect(msg).not.toContain("\n");
    };
    bad({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["no_such_call"], action: "SCMP_ACT_ALLOW" }] }, "syscalls[0].names", "no_such_call");
    bad({ defaultAction: "SCMP_ACT_NOPE" }, "defaultAction", "SCMP_ACT_NOPE");
    bad(
      { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["kill"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_ABOUT" }] }] },
      "args[0].op",
      "SCMP_CMP_ABOUT",
    );
    bad(
      { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["kill"], action: "SCMP_ACT_ALLOW", args: [{ index: 7, value: 1, op: "SCMP_CMP_EQ" }] }] },
      "args[0].index",
    );
    bad({ defaultAction: "SCMP_ACT_ERRNO", flags: ["SECCOMP_FILTER_FLAG_FAST"] }, "flags", "SECCOMP_FILTER_FLAG_FAST");
    bad({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["toString"], action: "SCMP_ACT_ALLOW" }] }, "toString");
    // Other architectures' calls are skipped, as runc does, not refused.
    expect(() =>
      compileSeccomp({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["socketcall", "set_tls"], action: "SCMP_ACT_ALLOW" }] }, "x64"),
    ).not.toThrow();
  });

  test("docker's profile format: rules included or excluded by capability, architecture and kernel", () => {
    const profile = {
      defaultAction: "SCMP_ACT_ERRNO",
      archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86"] }],
      syscalls: [
        { names: ["read"], action: "SCMP_ACT_ALLOW" },
        { names: ["mount"], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] } },
        { names: ["arch_prctl"], action: "SCMP_ACT_ALLOW", includes: { arches: ["amd64"] } },
        { names: ["ptrace"], action: "SCMP_ACT_ALLOW", includes: { minKernel: "99.0" } },
        { names: ["chroot"], action: "SCMP_ACT_ALLOW", excludes: { caps: ["CAP_SYS_CHROOT"] } },
      ],
    };
    const s = seccompFromProfile(profile, ["CAP_SYS_CHROOT"], "x64", "6.18.44-x", "--security-opt");
    expect(s.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    expect(s.syscalls!.map((r) => r.names[0])).toEqual(["read", "arch_prctl"]);
  });
});

describe("the default profile's filter, compiled at build time", () => {
  test("is what the compiler makes of the profile now, for both architectures", async () => {
    const { defaultFilters } = await import("../../src/spec/seccomp-default-filter.ts");
    const ahead = defaultFilters();
    for (const arch of ["x64", "arm64"] as const) {
      expect(Buffer.from(ahead[arch], "base64")).toEqual(Buffer.from(compileSeccomp(defaultSeccomp(DEFAULT_CAPABILITIES, arch), arch).filter));
    }
  });
});

describe("the built-in default filter", () => {
  test("an exec target's section read back from its state gets it only when it is exactly the default profile", () => {
    const section = JSON.parse(JSON.stringify(defaultSeccomp(DEFAULT_CAPABILITIES, "x64"))) as LinuxSeccomp;
    const known = knownFilter(section, "x64");
    expect(known).toEqual(new Uint8Array(compileSeccomp(defaultSeccomp(DEFAULT_CAPABILITIES, "x64"), "x64").filter));
    expect(knownFilter({ ...section, defaultErrnoRet: 38 }, "x64")).toBeUndefined();
    expect(knownFilter(section, "arm64")).toBeUndefined();
  });
});

describe("the system call tables", () => {
  test("read from their text form: the kernel's numbers on both architectures", () => {
    const x64 = syscallNumbers("x64");
    const arm64 = syscallNumbers("arm64");
    expect([x64.size, arm64.size]).toEqual([381, 326]);
    expect(["read", "openat", "kexec_file_load", "pidfd_send_signal", "clone3", "file_setattr"].map((n) => x64.get(n))).toEqual([0, 257, 320, 424, 435, 469]);
    expect(["io_setup", "openat", "arch_specific_syscall", "wait4", "pidfd_send_signal", "file_setattr"].map((n) => arm64.get(n))).toEqual([
      0, 56, 244, 260, 424, 469,
    ]);
    // Names of other architectures are known as such, so a profile for every architecture is not refused.
    expect([isOtherArchName("socketcall"), isOtherArchName("read"), arm64.has("open"), x64.has("open")]).toEqual([true, false, false, true]);
  });
});
