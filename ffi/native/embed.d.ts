// build.ts writes these shared objects; Bun embeds them as files.
declare module "*.so" {
  const path: string;
  export default path;
}
