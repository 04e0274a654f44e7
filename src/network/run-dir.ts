/** Containers' name files and the lock on network changes, apart from the registry (which removes itself when empty). */
export const NET_RUN_DIR = "/run/myuts-net";
