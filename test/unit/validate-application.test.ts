import { describe, expect, it } from "@jest/globals";
import {
  MAX_APPLICATION_NAME_LENGTH,
  MAX_APPLICATION_NAMES,
  MAX_DISCOVERY_URL_LENGTH,
  MAX_DISCOVERY_URLS,
  MAX_LOCALE_LENGTH,
  MAX_SERVER_CAPABILITIES,
  MAX_URI_LENGTH,
} from "../../src/directory/limits.js";
import { absoluteUriProblem, validateApplication } from "../../src/directory/validate-application.js";
import type { GdsError } from "../../src/errors.js";
import { throwsGdsError } from "./helpers/gds-error.js";

function server(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    applicationUri: "urn:localhost:example:server",
    applicationType: 0,
    applicationNames: [{ locale: "en-US", text: "Example Server" }],
    productUri: "http://example.com/product",
    discoveryUrls: ["opc.tcp://localhost:4840/UA/Server"],
    serverCapabilities: ["DA", "HD"],
    ...overrides,
  };
}

function expectInvalid(input: unknown, ...fragments: string[]): GdsError {
  return throwsGdsError(() => validateApplication(input), "BadInvalidArgument", ...fragments);
}

describe("validateApplication: a good record", () => {
  it("returns a normalised copy with only the input fields", () => {
    const input = server({
      applicationId: "ignored",
      extra: 1,
      applicationNames: [{ locale: "", text: "  Example Server  " }, { locale: "de", text: "Beispiel" }],
    });
    const out = validateApplication(input);
    expect(out).toEqual({
      applicationUri: "urn:localhost:example:server",
      applicationType: 0,
      applicationNames: [
        { locale: null, text: "Example Server" },
        { locale: "de", text: "Beispiel" },
      ],
      productUri: "http://example.com/product",
      discoveryUrls: ["opc.tcp://localhost:4840/UA/Server"],
      serverCapabilities: ["DA", "HD"],
    });
    expect(out.discoveryUrls).not.toBe(input["discoveryUrls"]);
  });

  it("accepts each application type in its valid form", () => {
    expect(() => validateApplication(server({ applicationType: 3, serverCapabilities: ["LDS"] }))).not.toThrow();
    expect(() =>
      validateApplication(
        server({
          applicationType: 2,
          discoveryUrls: ["opc.tcp://host:4840", "rcp+opc.tcp://host:4840"],
          serverCapabilities: ["RCP", "DA"],
        }),
      ),
    ).not.toThrow();
    expect(() => validateApplication(server({ applicationType: 2, serverCapabilities: [] }))).not.toThrow();
    expect(() => validateApplication(server({ applicationType: 1, discoveryUrls: null, serverCapabilities: null }))).not.toThrow();
    expect(() =>
      validateApplication(server({ applicationType: 1, discoveryUrls: ["rcp+opc.tcp://client:4841"], serverCapabilities: ["RCP"] })),
    ).not.toThrow();
  });

  it("treats null arrays as empty and null locales as absent", () => {
    const out = validateApplication(
      server({ serverCapabilities: null, applicationNames: [{ locale: null, text: "X" }] }),
    );
    expect(out.serverCapabilities).toEqual([]);
    expect(out.applicationNames).toEqual([{ locale: null, text: "X" }]);
  });

  it("accepts a range of URI and URL forms", () => {
    for (const uri of [
      "urn:example",
      "http://example.com/a?b=c#d",
      "opc.tcp://h:1/x",
      "urn:x:%C3%A9",
      "urn:münchen:server",
      "tag:example.com,2026:app",
    ]) {
      expect(absoluteUriProblem(uri)).toBeNull();
    }
    for (const url of [
      "opc.tcp://localhost:4840",
      "opc.tcp://localhost:4840/",
      "opc.tcp://192.168.0.1:4840/UA/Server",
      "opc.tcp://[::1]:4840/x",
      "opc.tcp://[fe80::1%25eth0]:4840",
      "opc.https://host/path",
      "https://host:443/disco?x=1",
      "http://host",
      "opc.wss://host:443/ws",
      "opc.tcp://user@host:4840",
      "opc.tcp://host.example.com.:4840",
    ]) {
      expect(() => validateApplication(server({ discoveryUrls: [url] }))).not.toThrow();
    }
  });
});

describe("validateApplication: shape and nulls", () => {
  it("rejects a missing or non-object record", () => {
    expectInvalid(null, "Application:");
    expectInvalid(undefined, "Application:");
    expectInvalid("urn:x", "Application:");
    expectInvalid([server()], "Application:");
  });
  it("rejects wrong types without throwing anything but GdsError", () => {
    expectInvalid(server({ applicationUri: 42 }), "ApplicationUri: must be a string");
    expectInvalid(server({ productUri: {} }), "ProductUri: must be a string");
    expectInvalid(server({ applicationNames: "x" }), "ApplicationNames: must be an array");
    expectInvalid(server({ applicationNames: [42] }), "ApplicationNames[0]");
    expectInvalid(server({ applicationNames: [{ text: 42 }] }), "ApplicationNames[0].Text: must be a string");
    expectInvalid(server({ applicationNames: [{ text: "x", locale: 5 }] }), "ApplicationNames[0].Locale: must be a string");
    expectInvalid(server({ discoveryUrls: "opc.tcp://h:1" }), "DiscoveryUrls: must be an array");
    expectInvalid(server({ discoveryUrls: [7] }), "DiscoveryUrls[0]: must be a string");
    expectInvalid(server({ serverCapabilities: {} }), "ServerCapabilities: must be an array");
    expectInvalid(server({ serverCapabilities: [1] }), "ServerCapabilities[0]: must be a string");
  });
  it("rejects null required strings as missing and null elements", () => {
    expectInvalid(server({ applicationUri: null }), "ApplicationUri: is required");
    expectInvalid(server({ productUri: undefined }), "ProductUri: is required");
    expectInvalid(server({ applicationNames: [null] }), "ApplicationNames[0]: must not be null");
    expectInvalid(server({ applicationNames: [{ locale: "en", text: null }] }), "ApplicationNames[0].Text: is required");
    expectInvalid(server({ discoveryUrls: ["opc.tcp://h:1", null] }), "DiscoveryUrls[1]: must not be null");
    expectInvalid(server({ serverCapabilities: ["DA", null] }), "ServerCapabilities[1]: must not be null");
  });
});

describe("validateApplication: ApplicationUri and ProductUri", () => {
  it("require absolute URIs", () => {
    expectInvalid(server({ applicationUri: "" }), "ApplicationUri: must not be empty");
    expectInvalid(server({ applicationUri: "no-scheme" }), "ApplicationUri:", "not an absolute URI");
    expectInvalid(server({ applicationUri: "/relative/path" }), "ApplicationUri:", "not an absolute URI");
    expectInvalid(server({ applicationUri: "1urn:x" }), "ApplicationUri:", "not an absolute URI");
    expectInvalid(server({ applicationUri: "urn:" }), "ApplicationUri:", "nothing after the scheme");
    expectInvalid(server({ applicationUri: "urn:has space" }), "ApplicationUri:", "not allowed in a URI");
    expectInvalid(server({ applicationUri: "urn:tab\there" }), "ApplicationUri:", "not allowed");
    expectInvalid(server({ applicationUri: "urn:nl\n" }), "ApplicationUri:", "not allowed");
    expectInvalid(server({ applicationUri: "urn:ctl\u0001" }), "ApplicationUri:", "not allowed");
    expectInvalid(server({ applicationUri: "urn:a<b>" }), "ApplicationUri:", "not allowed");
    expectInvalid(server({ applicationUri: "urn:x%zz" }), "ApplicationUri:", "malformed %-escape");
    expectInvalid(server({ productUri: "product" }), "ProductUri:", "not an absolute URI");
    expectInvalid(server({ productUri: "" }), "ProductUri: must not be empty");
  });
  it("enforce the length limit, fast even on a 1 MB string", () => {
    expect(() => validateApplication(server({ applicationUri: "urn:" + "a".repeat(MAX_URI_LENGTH - 4) }))).not.toThrow();
    expectInvalid(server({ applicationUri: "urn:" + "a".repeat(MAX_URI_LENGTH - 3) }), "ApplicationUri:", `longer than ${MAX_URI_LENGTH}`);
    const huge = "urn:" + "a ".repeat(500_000);
    const t0 = performance.now();
    expectInvalid(server({ applicationUri: huge }), "ApplicationUri:", `longer than ${MAX_URI_LENGTH}`);
    expectInvalid(server({ productUri: huge }), "ProductUri:", `longer than ${MAX_URI_LENGTH}`);
    expectInvalid(server({ discoveryUrls: [huge] }), "DiscoveryUrls[0]:", `longer than ${MAX_DISCOVERY_URL_LENGTH}`);
    expectInvalid(server({ serverCapabilities: [huge] }), "ServerCapabilities[0]:");
    expectInvalid(server({ applicationNames: [{ text: huge }] }), "ApplicationNames[0].Text:", `longer than ${MAX_APPLICATION_NAME_LENGTH}`);
    expectInvalid(server({ applicationNames: [{ text: "x", locale: huge }] }), "ApplicationNames[0].Locale:", `longer than ${MAX_LOCALE_LENGTH}`);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});

describe("validateApplication: ApplicationType", () => {
  it("must be an integer 0..3", () => {
    for (const t of [-1, 4, 8, 107, 1.5, NaN, "0", null, undefined]) {
      expectInvalid(server({ applicationType: t }), "ApplicationType:");
    }
  });
});

describe("validateApplication: ApplicationNames", () => {
  it("requires at least one name with non-empty text", () => {
    expectInvalid(server({ applicationNames: [] }), "ApplicationNames: at least one name is required");
    expectInvalid(server({ applicationNames: null }), "ApplicationNames: at least one name is required");
    expectInvalid(server({ applicationNames: [{ locale: "en", text: "   " }] }), "ApplicationNames[0].Text: must not be empty");
    expectInvalid(
      server({ applicationNames: [{ locale: "en", text: "ok" }, { locale: "de", text: "" }] }),
      "ApplicationNames[1].Text: must not be empty",
    );
  });
  it("enforces the count, text and locale limits", () => {
    const names = Array.from({ length: MAX_APPLICATION_NAMES }, (_, i) => ({ locale: `l${i}`, text: `n${i}` }));
    expect(() => validateApplication(server({ applicationNames: names }))).not.toThrow();
    expectInvalid(
      server({ applicationNames: [...names, { locale: "x", text: "y" }] }),
      "ApplicationNames:",
      `at most ${MAX_APPLICATION_NAMES}`,
    );
    expect(() => validateApplication(server({ applicationNames: [{ text: "n".repeat(MAX_APPLICATION_NAME_LENGTH) }] }))).not.toThrow();
    expectInvalid(
      server({ applicationNames: [{ text: "n".repeat(MAX_APPLICATION_NAME_LENGTH + 1) }] }),
      "ApplicationNames[0].Text:",
      `longer than ${MAX_APPLICATION_NAME_LENGTH}`,
    );
    expectInvalid(
      server({ applicationNames: [{ text: "n", locale: "l".repeat(MAX_LOCALE_LENGTH + 1) }] }),
      "ApplicationNames[0].Locale:",
      `longer than ${MAX_LOCALE_LENGTH}`,
    );
    expectInvalid(server({ applicationNames: [{ text: "n", locale: "en US" }] }), "ApplicationNames[0].Locale:");
  });
});

describe("validateApplication: DiscoveryUrls", () => {
  it("must be well-formed scheme://host URLs", () => {
    for (const url of [
      "localhost:4840",
      "opc.tcp:/localhost:4840",
      "opc.tcp://",
      "opc.tcp://:4840/x",
      "opc.tcp://host:port",
      "opc.tcp://host:99999",
      "opc.tcp://ho st:4840",
      "opc.tcp://[::1:4840",
      "opc.tcp://[zz]:4840",
      "opc.tcp://[::1]x",
      "opc.tcp://ho{st}:4840",
      "",
      "rcp+",
      "rcp+localhost",
    ]) {
      expectInvalid(server({ discoveryUrls: ["opc.tcp://ok:4840", url] }), "DiscoveryUrls[1]:");
    }
  });
  it("enforces the count and length limits", () => {
    const urls = Array.from({ length: MAX_DISCOVERY_URLS }, (_, i) => `opc.tcp://h${i}:4840`);
    expect(() => validateApplication(server({ discoveryUrls: urls }))).not.toThrow();
    expectInvalid(server({ discoveryUrls: [...urls, "opc.tcp://x:1"] }), "DiscoveryUrls:", `at most ${MAX_DISCOVERY_URLS}`);
    const long = "opc.tcp://h:1/" + "p".repeat(MAX_DISCOVERY_URL_LENGTH - 14);
    expect(long.length).toBe(MAX_DISCOVERY_URL_LENGTH);
    expect(() => validateApplication(server({ discoveryUrls: [long] }))).not.toThrow();
    expectInvalid(server({ discoveryUrls: [long + "p"] }), "DiscoveryUrls[0]:", `longer than ${MAX_DISCOVERY_URL_LENGTH}`);
  });
  it("Server and DiscoveryServer need at least one URL and no rcp+ URL", () => {
    for (const type of [0, 3]) {
      const caps = type === 3 ? ["LDS"] : [];
      expectInvalid(server({ applicationType: type, discoveryUrls: [], serverCapabilities: caps }), "DiscoveryUrls: at least one is required");
      expectInvalid(server({ applicationType: type, discoveryUrls: null, serverCapabilities: caps }), "DiscoveryUrls: at least one is required");
      expectInvalid(
        server({ applicationType: type, discoveryUrls: ["opc.tcp://h:1", "rcp+opc.tcp://h:1"], serverCapabilities: ["RCP"] }),
        "DiscoveryUrls:",
        "rcp+",
      );
    }
  });
  it("ClientAndServer needs a non-rcp+ URL, and RCP when it lists rcp+ URLs", () => {
    expectInvalid(server({ applicationType: 2, discoveryUrls: [] }), "DiscoveryUrls:", "non-reverse-connect");
    expectInvalid(
      server({ applicationType: 2, discoveryUrls: ["rcp+opc.tcp://h:1"], serverCapabilities: ["RCP"] }),
      "DiscoveryUrls:",
      "non-reverse-connect",
    );
    expectInvalid(
      server({ applicationType: 2, discoveryUrls: ["opc.tcp://h:1", "rcp+opc.tcp://h:1"], serverCapabilities: ["DA"] }),
      "ServerCapabilities: must contain RCP",
    );
  });
  it("Client URLs are optional but must all be rcp+ with RCP", () => {
    expectInvalid(
      server({ applicationType: 1, discoveryUrls: ["opc.tcp://h:1"], serverCapabilities: ["RCP"] }),
      "DiscoveryUrls: a Client may only list reverse-connect",
    );
    expectInvalid(
      server({ applicationType: 1, discoveryUrls: ["rcp+opc.tcp://h:1", "opc.tcp://h:1"], serverCapabilities: ["RCP"] }),
      "DiscoveryUrls: a Client may only list reverse-connect",
    );
    expectInvalid(server({ applicationType: 1, discoveryUrls: ["rcp+opc.tcp://h:1"], serverCapabilities: [] }), "ServerCapabilities: must contain RCP");
    expect(() =>
      validateApplication(server({ applicationType: 1, discoveryUrls: ["RCP+opc.tcp://h:1"], serverCapabilities: ["rcp"] })),
    ).not.toThrow();
  });
});

describe("validateApplication: ServerCapabilities", () => {
  it("accepts known and unknown well-formed identifiers", () => {
    const out = validateApplication(server({ serverCapabilities: ["DA", "HD", "61850", "FUTURE1", "x"] }));
    expect(out.serverCapabilities).toEqual(["DA", "HD", "61850", "FUTURE1", "x"]);
  });
  it("rejects malformed identifiers", () => {
    for (const cap of ["", "D A", "DA-1", "é", "A".repeat(33)]) {
      expectInvalid(server({ serverCapabilities: ["DA", cap] }), "ServerCapabilities[1]:", "not a capability identifier");
    }
  });
  it("rejects duplicates, case-insensitively", () => {
    expectInvalid(server({ serverCapabilities: ["DA", "HD", "da"] }), "ServerCapabilities[2]:", "listed twice");
  });
  it("allows NA and LDS only on their own", () => {
    expect(() => validateApplication(server({ serverCapabilities: ["NA"] }))).not.toThrow();
    expect(() => validateApplication(server({ serverCapabilities: ["LDS"] }))).not.toThrow();
    expectInvalid(server({ serverCapabilities: ["NA", "DA"] }), "ServerCapabilities: NA must not be combined");
    expectInvalid(server({ serverCapabilities: ["DA", "lds"] }), "ServerCapabilities: LDS must not be combined");
  });
  it("enforces the count limit", () => {
    const caps = Array.from({ length: MAX_SERVER_CAPABILITIES }, (_, i) => `C${i}`);
    expect(() => validateApplication(server({ serverCapabilities: caps }))).not.toThrow();
    expectInvalid(server({ serverCapabilities: [...caps, "X"] }), "ServerCapabilities:", `at most ${MAX_SERVER_CAPABILITIES}`);
    const t0 = performance.now();
    expectInvalid(server({ serverCapabilities: new Array(1_000_000).fill("DA") }), "ServerCapabilities:", `at most ${MAX_SERVER_CAPABILITIES}`);
    expectInvalid(server({ discoveryUrls: new Array(1_000_000).fill(null) }), "DiscoveryUrls:", `at most ${MAX_DISCOVERY_URLS}`);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});
