// Constants that build.ts defines at compile time; absent when running from source.
declare const MYUTS_LIBC: string | undefined;
declare const MYUTS_VERSION: string | undefined;
declare const MYUTS_COMMIT: string | undefined;
declare const MYUTS_TARGET: string | undefined;
