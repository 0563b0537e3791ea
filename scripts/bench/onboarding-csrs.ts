// Device keys and CSRs for the pull-onboarding benchmark, made before anything is timed: one
// RSA-2048 key per device, a PKCS#10 request with subjectAltName = the device's ApplicationUri and a
// DNS name, as a device would send it (the CA benchmark's factory, ca-csrs.ts).
import { makeCsrsFor } from "./ca-csrs.js";

export interface DeviceIdentity {
  applicationUri: string;
  name: string;
  dnsName: string;
}

/** One CSR (DER) per identity, each with its own key; `parallel` key generations at a time. */
export async function makeDeviceCsrs(ids: DeviceIdentity[], parallel = 4): Promise<Buffer[]> {
  const csrs = await makeCsrsFor(ids.map((id) => ({ applicationUri: id.applicationUri, dnsName: id.dnsName, subject: `CN=${id.name}, O=Bench` })), parallel);
  return csrs.map((c) => c.der);
}
