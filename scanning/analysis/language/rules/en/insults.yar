/*
 * English, theme 2: vulgar insults aimed at a person. Plain insults without vulgarity ("idiot",
 * "moron") are not unsafe language; "prick" and "dick" alone have everyday meanings.
 */
rule content_en_language_nsfw_2
{
  meta:
    description = "vulgar insults"
  strings:
    $ = "asshole" fullword nocase
    $ = "assholes" fullword nocase
    $ = "a$$hole" fullword nocase
    $ = "@sshole" fullword nocase
    $ = "arsehole" fullword nocase
    $ = "asswipe" fullword nocase
    $ = "asshat" fullword nocase
    $ = "jackass" fullword nocase
    $ = "dumbass" fullword nocase
    $ = "smartass" fullword nocase
    $ = "fatass" fullword nocase
    $ = "kiss my ass" fullword nocase
    $ = "bitch" fullword nocase
    $ = "bitches" fullword nocase
    $ = "bitchy" fullword nocase
    $ = "bitching" fullword nocase
    $ = "b!tch" fullword nocase
    $ = "b*tch" fullword nocase
    $ = "biatch" fullword nocase
    $ = "son of a bitch" fullword nocase
    $ = "sonofabitch" fullword nocase
    $ = "cocksucker" fullword nocase
    $ = "cocksuckers" fullword nocase
    $ = "dickhead" fullword nocase
    $ = "dickheads" fullword nocase
    $ = "dickwad" fullword nocase
    $ = "dickface" fullword nocase
    $ = "douchebag" fullword nocase
    $ = "douchebags" fullword nocase
    $ = "scumbag" fullword nocase
    $ = "shithead" fullword nocase
    $ = "shitheads" fullword nocase
    $ = "shithole" fullword nocase
    $ = "dipshit" fullword nocase
    $ = "fuckhead" fullword nocase
    $ = "fuckface" fullword nocase
    $ = "fuckwit" fullword nocase
    $ = "fucktard" fullword nocase
    $ = "twat" fullword nocase
    $ = "twats" fullword nocase
    $ = "wanker" fullword nocase
    $ = "wankers" fullword nocase
    $ = "tosser" fullword nocase
    $ = "bellend" fullword nocase
    $ = "knobhead" fullword nocase
    $ = "cumbucket" fullword nocase
    $ = "motherfuckin" fullword nocase
  condition:
    any of them
}
