/**
 * The few web-platform globals the pure core may use. They are standard in every
 * JavaScript runtime and do no I/O; declaring them here keeps `tsconfig.core.json`
 * free of `@types/node`, so a stray `node:` import is a compile error there.
 */
declare class URL {
  constructor(input: string, base?: string);
  readonly hostname: string;
  readonly host: string;
  readonly port: string;
  readonly protocol: string;
  readonly username: string;
  readonly password: string;
  readonly pathname: string;
  readonly href: string;
}
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean });
  decode(input?: Uint8Array): string;
}
