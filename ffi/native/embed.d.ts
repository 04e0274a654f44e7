// build.ts writes these native pieces; Bun embeds them as files.
declare module "*.elf" {
  const path: string;
  export default path;
}
declare module "*.so" {
  const path: string;
  export default path;
}
