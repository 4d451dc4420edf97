/**
 * Network-boundary support: endpoint normalization and zone classification.
 * Pure: no I/O and no DNS; names are classified as written.
 */
export { cidrContains, formatCidr, parseCidr, type Cidr } from './cidr.js';
export { formatIp, parseIp, unmapIpv4, type IpAddress } from './ip-address.js';
export { DEFAULT_PORTS, MAX_ENDPOINT_LENGTH, normalizeEndpoint, type NormalizedEndpoint } from './normalize-endpoint.js';
export { normalizeHost, type CanonicalHost } from './normalize-host.js';
export { compileZones, type Zone, type ZoneIndex, type ZoneSpec } from './zones.js';
