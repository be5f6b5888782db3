/*
 * English, theme 5: pornography: its vocabulary and the names of the best-known sites.
 * "xxx" alone is left out: forms use it as a placeholder ("555-XXX").
 */
rule content_en_language_nsfw_5
{
  meta:
    description = "pornography"
  strings:
    $ = "porn" fullword nocase
    $ = "porno" fullword nocase
    $ = "pornos" fullword nocase
    $ = "pr0n" fullword nocase
    $ = "hardcore porn" fullword nocase
    $ = "softcore" fullword nocase
    $ = "xxx porn" fullword nocase
    $ = "xxx videos" fullword nocase
    $ = "sex tape" fullword nocase
    $ = "sextape" fullword nocase
    $ = "hentai" fullword nocase
    $ = "camgirl" fullword nocase
    $ = "camgirls" fullword nocase
    $ = "camwhore" fullword nocase
    $ = "sexcam" fullword nocase
    $ = "jailbait" fullword nocase
    $ = "lolicon" fullword nocase
    $ = "shotacon" fullword nocase
    $ = "rule34" fullword nocase
    $ = "pornhub" fullword nocase
    $ = "xvideos" fullword nocase
    $ = "xhamster" fullword nocase
    $ = "redtube" fullword nocase
    $ = "youporn" fullword nocase
    $ = "brazzers" fullword nocase
    $ = "upskirt" fullword nocase
    $ = "gloryhole" fullword nocase
    $ = "glory hole" fullword nocase
  condition:
    any of them
}
