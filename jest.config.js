/** jest in ESM mode with ts-jest (see ../shared/toolchain.md). */
export default {
  testEnvironment: "node",
  extensionsToTreatAsEsm: [".ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { useESM: true, tsconfig: "tsconfig.json", diagnostics: false }],
  },
  moduleNameMapper: {
    "^(\\.{1,2}/.*)\\.js$": "$1",
  },
  setupFiles: ["reflect-metadata"],
  testMatch: ["<rootDir>/test/**/*.test.ts"],
  // scripts/demo-device has its own node_modules (node-opcua 2.157): not for jest's module map.
  modulePathIgnorePatterns: ["<rootDir>/scripts/demo-device/"],
  watchPathIgnorePatterns: ["<rootDir>/scripts/demo-device/"],
  testTimeout: 60000,
  // node-opcua keeps process-wide timers (clock adjustment) alive after servers stop.
  forceExit: true,
};
