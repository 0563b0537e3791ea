import { describe, expect, it } from "@jest/globals";
import { compileLikePattern, MAX_LIKE_PATTERN_LENGTH } from "../../src/directory/like-pattern.js";
import { throwsGdsError } from "./helpers/gds-error.js";

function like(pattern: string, subject: string): boolean {
  return compileLikePattern(pattern)(subject);
}

function expectInvalid(pattern: string, ...fragments: string[]): void {
  throwsGdsError(() => compileLikePattern(pattern), "BadInvalidArgument", ...fragments);
}

describe("compileLikePattern: literals (no wildcard = equality)", () => {
  it("matches equal strings only", () => {
    expect(like("urn:a:b", "urn:a:b")).toBe(true);
    expect(like("urn:a:b", "urn:a:bc")).toBe(false);
    expect(like("urn:a:b", "urn:a:")).toBe(false);
    expect(like("", "")).toBe(true);
    expect(like("", "x")).toBe(false);
  });
  it("is case-insensitive, also beyond ASCII", () => {
    expect(like("URN:Example:Server", "urn:example:SERVER")).toBe(true);
    expect(like("Müller Ölwerk", "MÜLLER ÖLWERK")).toBe(true);
    expect(like("ÉTÉ", "été")).toBe(true);
    expect(like("abc", "abd")).toBe(false);
  });
  it("treats a lone ']' and '^' outside a list as literals", () => {
    expect(like("a]b", "a]b")).toBe(true);
    expect(like("a^b", "a^b")).toBe(true);
    expect(like("a-b", "a-b")).toBe(true);
  });
  it("returns false for a non-string subject", () => {
    expect(compileLikePattern("%")(null as unknown as string)).toBe(false);
    expect(compileLikePattern("a")(undefined as unknown as string)).toBe(false);
  });
});

describe("compileLikePattern: %", () => {
  it("matches any run including the empty one", () => {
    expect(like("%", "")).toBe(true);
    expect(like("%", "anything")).toBe(true);
    expect(like("abc%", "abc")).toBe(true);
    expect(like("abc%", "abcdef")).toBe(true);
    expect(like("abc%", "xabc")).toBe(false);
    expect(like("%abc", "xxabc")).toBe(true);
    expect(like("%abc", "abcx")).toBe(false);
    expect(like("%b%", "abc")).toBe(true);
    expect(like("%b%", "ac")).toBe(false);
    expect(like("a%c", "ac")).toBe(true);
    expect(like("a%c", "abbbc")).toBe(true);
    expect(like("a%c", "abbbcd")).toBe(false);
  });
  it("collapses runs of %", () => {
    expect(like("%%%", "")).toBe(true);
    expect(like("a%%%%b", "ab")).toBe(true);
    expect(like("a%%%%b", "axxb")).toBe(true);
    expect(like("%%a%%", "bab")).toBe(true);
  });
  it("does not let the prefix and suffix overlap", () => {
    expect(like("ab%ba", "aba")).toBe(false);
    expect(like("ab%ba", "abba")).toBe(true);
    expect(like("a%a", "a")).toBe(false);
    expect(like("a%a", "aa")).toBe(true);
  });
  it("finds middle segments leftmost and in order", () => {
    expect(like("%a%b%c%", "xxaxxbxxcxx")).toBe(true);
    expect(like("%a%b%c%", "xxcxxbxxaxx")).toBe(false);
    expect(like("%abc%abd%", "abcabcabd")).toBe(true);
    expect(like("%aab%", "aaab")).toBe(true);
    expect(like("x%ab%ab%y", "xababy")).toBe(true);
    expect(like("x%ab%ab%y", "xaby")).toBe(false);
    expect(like("%ab%ab", "abab")).toBe(true);
    expect(like("%ab%ab", "aab")).toBe(false);
  });
  it("matches a 5-character prefix like the .NET tests do", () => {
    expect(like("urn:o%", "urn:opcfoundation.org:gds:test")).toBe(true);
    expect(like("Test %", "Test Server 1")).toBe(true);
  });
});

describe("compileLikePattern: _", () => {
  it("matches exactly one character", () => {
    expect(like("a_c", "abc")).toBe(true);
    expect(like("a_c", "ac")).toBe(false);
    expect(like("a_c", "abbc")).toBe(false);
    expect(like("___", "xyz")).toBe(true);
    expect(like("___", "xy")).toBe(false);
    expect(like("%_", "")).toBe(false);
    expect(like("%_", "a")).toBe(true);
    expect(like("_%_", "a")).toBe(false);
    expect(like("_%_", "ab")).toBe(true);
  });
  it("counts a surrogate pair as one character", () => {
    expect(like("a_b", "a😀b")).toBe(true);
    expect(like("a__b", "a😀b")).toBe(false);
    expect(like("😀%", "😀x")).toBe(true);
  });
  it("works inside middle segments", () => {
    expect(like("%a_c%", "xxabcxx")).toBe(true);
    expect(like("%a_c%", "xxacxx")).toBe(false);
    expect(like("%a_c%", "xxaécxx")).toBe(true);
  });
});

describe("compileLikePattern: lists", () => {
  it("matches one character of a list", () => {
    expect(like("[abc]", "b")).toBe(true);
    expect(like("[abc]", "d")).toBe(false);
    expect(like("[abc]", "ab")).toBe(false);
    expect(like("x[abc]y", "xcy")).toBe(true);
  });
  it("supports ranges, several ranges and mixed members", () => {
    expect(like("[a-c]", "b")).toBe(true);
    expect(like("[a-c]", "d")).toBe(false);
    expect(like("[0-9a-f]", "e")).toBe(true);
    expect(like("[0-9a-f]", "7")).toBe(true);
    expect(like("[0-9a-f]", "g")).toBe(false);
    expect(like("[a-cx]", "x")).toBe(true);
    expect(like("v[0-9].[0-9]", "v1.5")).toBe(true);
  });
  it("is case-insensitive for members and ranges", () => {
    expect(like("[A-C]", "b")).toBe(true);
    expect(like("[a-c]", "B")).toBe(true);
    expect(like("[xyz]", "Y")).toBe(true);
    expect(like("[À-Þ]", "é")).toBe(true);
  });
  it("negates with a leading ^", () => {
    expect(like("[^abc]", "d")).toBe(true);
    expect(like("[^abc]", "a")).toBe(false);
    expect(like("[^abc]", "A")).toBe(false);
    expect(like("[^a-c]", "z")).toBe(true);
    expect(like("[^a-c]", "b")).toBe(false);
    expect(like("[^a]", "")).toBe(false);
    expect(like("[a^]", "^")).toBe(true);
    expect(like("[a^]", "b")).toBe(false);
  });
  it("treats '-' at the start or end of a list as a literal", () => {
    expect(like("[-a]", "-")).toBe(true);
    expect(like("[a-]", "-")).toBe(true);
    expect(like("[a-]", "b")).toBe(false);
    expect(like("[^-]", "-")).toBe(false);
  });
  it("accepts escapes inside a list", () => {
    expect(like("[\\]]", "]")).toBe(true);
    expect(like("[\\^a]", "^")).toBe(true);
    expect(like("[a\\-c]", "-")).toBe(true);
    expect(like("[a\\-c]", "b")).toBe(false);
    expect(like("[\\%]", "%")).toBe(true);
  });
  it("works in middle segments with non-ASCII subjects", () => {
    expect(like("%[éè]t%", "xxétexx")).toBe(true);
    expect(like("%[^é]t%", "ét")).toBe(false);
    expect(like("%[^é]t%", "Ét xt")).toBe(true);
  });
});

describe("compileLikePattern: escapes", () => {
  it("makes wildcards literal", () => {
    expect(like("100\\%", "100%")).toBe(true);
    expect(like("100\\%", "1000")).toBe(false);
    expect(like("a\\_b", "a_b")).toBe(true);
    expect(like("a\\_b", "axb")).toBe(false);
    expect(like("\\[a]", "[a]")).toBe(true);
    expect(like("\\[a]", "a")).toBe(false);
    expect(like("a\\\\b", "a\\b")).toBe(true);
    expect(like("\\a", "a")).toBe(true);
    expect(like("%\\%%", "50% off")).toBe(true);
    expect(like("%\\%%", "50 off")).toBe(false);
  });
});

describe("compileLikePattern: malformed patterns", () => {
  it("rejects an unclosed '[' with its offset", () => {
    expectInvalid("abc[de", "unclosed '['", "offset 3");
    expectInvalid("[", "unclosed '['", "offset 0");
    expectInvalid("[^", "unclosed '['");
    expectInvalid("x[a-", "unclosed '['", "offset 1");
  });
  it("rejects a trailing lone backslash with its offset", () => {
    expectInvalid("abc\\", "trailing '\\'", "offset 3");
    expectInvalid("[a\\", "trailing '\\'", "offset 2");
  });
  it("rejects empty lists and reversed ranges", () => {
    expectInvalid("a[]", "empty character list", "offset 1");
    expectInvalid("[^]", "empty character list");
    expectInvalid("[z-a]", "reversed range", "offset 1");
  });
  it("limits the pattern length", () => {
    expect(MAX_LIKE_PATTERN_LENGTH).toBe(1024);
    expect(() => compileLikePattern("%".repeat(MAX_LIKE_PATTERN_LENGTH))).not.toThrow();
    expectInvalid("a".repeat(MAX_LIKE_PATTERN_LENGTH + 1), "longer than 1024");
    expectInvalid("a".repeat(1_000_000), "longer than 1024");
  });
  it("rejects a non-string pattern", () => {
    expectInvalid(null as unknown as string, "must be a string");
  });
});

describe("compileLikePattern: bounded time on hostile input", () => {
  it("handles 500 × '%a' + 'b' against 256 'a's quickly", () => {
    const pattern = "%a".repeat(500) + "b";
    const subject = "a".repeat(256);
    const t0 = performance.now();
    const m = compileLikePattern(pattern);
    for (let i = 0; i < 10; i++) expect(m(subject)).toBe(false);
    expect(m("a".repeat(500) + "b")).toBe(true);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("handles classic exponential-backtracking shapes quickly", () => {
    const subject = "a".repeat(1024);
    const patterns = [
      "%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%a%b",
      "%" + "a_".repeat(200) + "%b",
      "%" + "[a-z]".repeat(100) + "b%",
      "%" + "a".repeat(40) + "%" + "a".repeat(40) + "b",
      "_%".repeat(500) + "b",
    ];
    const t0 = performance.now();
    for (const p of patterns) expect(compileLikePattern(p)(subject)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it("matches long middle segments (more than 32 elements) correctly", () => {
    const seg = "ab_d[e-f]".repeat(10); // 50 elements
    const m = compileLikePattern(`%${seg}%`);
    const hit = "abcde".repeat(10);
    expect(m(`xx${hit}yy`)).toBe(true);
    expect(m(`xx${hit.slice(0, -1)}yy`)).toBe(false);
    expect(m(`${"abcde".repeat(9)}abcdX${hit}`)).toBe(true);
    expect(m(`éé${hit}éé`)).toBe(true);
    const thirtyTwo = compileLikePattern(`%${"a".repeat(31)}b%`);
    expect(thirtyTwo(`x${"a".repeat(40)}bx`)).toBe(true);
    expect(thirtyTwo(`x${"a".repeat(30)}bx`)).toBe(false);
    const thirtyThree = compileLikePattern(`%${"a".repeat(32)}b%`);
    expect(thirtyThree(`${"a".repeat(32)}b`)).toBe(true);
    expect(thirtyThree(`${"a".repeat(31)}b`)).toBe(false);
  });
});

describe("compileLikePattern: agrees with a reference matcher", () => {
  // Reference: translate to a RegExp (fine for these tiny inputs; the real matcher never does).
  function reference(pattern: string): RegExp {
    let src = "";
    for (let i = 0; i < pattern.length; i++) {
      const c = pattern[i]!;
      if (c === "%") src += "[^]*";
      else if (c === "_") src += "[^]";
      else if (c === "[") {
        const close = pattern.indexOf("]", i);
        src += pattern.slice(i, close + 1);
        i = close;
      } else src += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp(`^${src}$`, "iu");
  }
  // Deterministic pseudo-random generator (no flaky tests).
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const atoms = ["a", "b", "A", "%", "%%", "_", "[ab]", "[^a]", "[a-b]", "c"];
  const letters = ["a", "b", "c", "A", "B"];

  it("on 5,000 random pattern/subject pairs", () => {
    for (let k = 0; k < 5000; k++) {
      let pattern = "";
      for (let i = rnd(8); i >= 0; i--) pattern += atoms[rnd(atoms.length)];
      let subject = "";
      for (let i = rnd(10); i > 0; i--) subject += letters[rnd(letters.length)];
      const expected = reference(pattern).test(subject);
      if (like(pattern, subject) !== expected) {
        throw new Error(`LIKE ${JSON.stringify(pattern)} on ${JSON.stringify(subject)}: expected ${expected}`);
      }
    }
  });
});
