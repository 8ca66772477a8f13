// Free-text and URL values as Proxmox, Node and browsers would take them (split out of check.ts, issue 12).

/**
 * Why Proxmox would not keep a free-text value as written, or undefined when it would. Proxmox trims both
 * ends of every field when it parses user.cfg (AccessControl.pm parse_user_config: `s/^\s+//; s/\s+$//` on
 * each `:`-separated field) and domains.cfg (SectionConfig.pm parse_config: `^\s+(\S+)(\s+(.*\S))?\s*$`),
 * so a value with spaces at either end reads back without them and never converges: it is refused, not
 * compared trimmed (the README says so). domains.cfg refuses line feeds outright (SectionConfig.pm
 * check_value: "property contains a line feed"); homelab keeps every text it sends on one line.
 * `zero`: the value `0` is false in Perl, and these fields are only stored `if $value` (issue 8 failure 3).
 */
export function textTrouble(value: unknown, zero?: string): { message: string; hint: string } | undefined {
  if (typeof value !== "string") return undefined;
  // A lone UTF-16 surrogate (a YAML "\uD800" escape) has no UTF-8 form: the request could not even be encoded.
  if (/\p{Cs}/u.test(value)) {
    return { message: "contains an unpaired surrogate (`\\uD800`-`\\uDFFF`), which is not a character", hint: "write the character itself, or its full escape (`\\U0001F600`), not half of a UTF-16 pair" };
  }
  if (/[\n\r]/.test(value)) {
    return {
      message: `contains a ${value.includes("\n") ? "line feed" : "carriage return"}`,
      hint: "Proxmox refuses line breaks in the values it stores (`property contains a line feed`): keep the value on one line; a YAML block scalar `>` ends in a line feed (write `>-`), and `|` keeps every line break",
    };
  }
  const edge = /^\s/.test(value) ? "starts" : /\s$/.test(value) ? "ends" : undefined;
  if (edge) {
    const what = /^ | $/.test(value) ? "a space" : "whitespace";
    return {
      message: `${quoteText(value)} ${edge} with ${what}`,
      hint: "Proxmox trims spaces at either end when it reads user.cfg and domains.cfg, so the value would never match what homelab reads back and every run would change it again; remove the spaces",
    };
  }
  if (zero !== undefined && value === "0") {
    return { message: "`0` is not kept by Proxmox", hint: `Proxmox reads the text \`0\` as false and ${zero}: write something else, or leave the field out` };
  }
  return undefined;
}

/**
 * Why a URL from the file would fail when homelab or Proxmox uses it, or undefined. Node's HTTP clients,
 * Graph and browsers parse URLs as the WHATWG URL standard says; a URL it refuses fails only at run time
 * (`ERR_INVALID_URL`, issue 10 item 8), so each one is parsed here. The parser accepts port 0, which no
 * server listens on, so the port written (if any) must be 1 to 65535. `origin`: the value is an origin that
 * must read exactly as a browser writes it. Exported for tests.
 */
export function urlTrouble(value: unknown, origin = false): { message: string; hint: string } | undefined {
  if (typeof value !== "string") return undefined;
  // The authority's port: after the last `@` (user info), after the host or the `[...]` of an IPv6 address.
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^/?#]*@)?(?:\[[^\]/?#]*\]|[^/?#:[\]]*)(?::([^/?#]*))?/.exec(value);
  const port = m?.[1];
  if (port !== undefined) {
    const hint = "a TCP port is a number from 1 to 65535 (Proxmox VE's API listens on 8006); leave the port out for https's 443";
    if (port === "") return { message: `${quoteText(value)} has \`:\` but no port after it`, hint };
    if (!/^\d+$/.test(port)) return { message: `${quoteText(value)} has port \`${port}\`, which is not a number`, hint };
    const n = Number(port);
    if (n < 1 || n > 65535) return { message: `${quoteText(value)} has port ${n}, outside 1-65535`, hint };
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return {
      message: `${quoteText(value)} is not a valid URL`,
      hint: "a URL parser refuses it: check the host name (letters, digits, `-` and `.`; a name ending in a number is read as an IPv4 address, each part at most 255) and write an IPv6 address in brackets, e.g. https://[fd00::1]:8006",
    };
  }
  // An origin (a cluster URL, a redirect URI) must be written as browsers write it: Proxmox's web UI sends
  // the browser's `location.origin` as the redirect URI, and Entra ID compares redirect URIs exactly.
  if (origin && url.origin !== value.replace(/\/$/, "")) {
    return {
      message: `${quoteText(value)} is written differently from its origin \`${url.origin}\``,
      hint: `browsers write the host in lower case and leave out the default port 443 and leading zeros, and Entra ID would compare the redirect URI \`${url.origin}\` with what is registered letter by letter: write \`${url.origin}\``,
    };
  }
  return undefined;
}

function quoteText(v: string): string {
  return `\`${v.length > 80 ? `${v.slice(0, 77)}...` : v}\``;
}
