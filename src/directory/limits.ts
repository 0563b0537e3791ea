/**
 * Size limits the Directory enforces on registrations and queries. Anything over a limit is
 * refused with BadInvalidArgument naming the field and the limit. They bound memory, store size
 * and the cost of a query; real applications stay far below them.
 */

/** ApplicationUri, ProductUri and the FindApplications argument, in UTF-16 code units. */
export const MAX_URI_LENGTH = 1024;

/** Number of ApplicationNames (LocalizedText entries) per application. */
export const MAX_APPLICATION_NAMES = 16;

/** Text of one ApplicationName, in UTF-16 code units (after trimming). */
export const MAX_APPLICATION_NAME_LENGTH = 256;

/** Locale of one ApplicationName (e.g. "en-US"). */
export const MAX_LOCALE_LENGTH = 32;

/** Number of DiscoveryUrls per application. */
export const MAX_DISCOVERY_URLS = 32;

/** One DiscoveryUrl, including an `rcp+` prefix. */
export const MAX_DISCOVERY_URL_LENGTH = 1024;

/** Number of ServerCapabilities per application (and per query filter). */
export const MAX_SERVER_CAPABILITIES = 64;

/** One ServerCapability identifier: 1..32 ASCII letters/digits (OPC 10000-12 Annex D style). */
export const MAX_SERVER_CAPABILITY_LENGTH = 32;

/** A LIKE pattern in QueryApplications/QueryServers (ApplicationName, ApplicationUri, ProductUri). */
export const MAX_LIKE_PATTERN_LENGTH = 1024;

/**
 * Default of GDS_MAX_RECORDS_PER_QUERY: the most records one QueryApplications or QueryServers call
 * returns (MaxRecordsToReturn 0 or larger gets this many; the client pages on).
 */
export const DEFAULT_MAX_RECORDS_PER_QUERY = 1000;

/** Default of GDS_QUERY_BUDGET: directory scan time one session earns per second (ms). */
export const DEFAULT_QUERY_BUDGET_MS_PER_SECOND = 100;
