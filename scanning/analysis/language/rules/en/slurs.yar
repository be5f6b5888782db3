/*
 * English, themes 3 and 4: slurs. Listed so that content aimed at a group of people can be
 * found, never to be shown to users. Words whose ordinary meaning dominates ("coon" for a
 * raccoon, "kraut" for cabbage, "dyke" for an embankment, "homo" in "Homo sapiens", "fag" for
 * a cigarette, "spastic" in medicine, "chink" in the armour, "spick" and span, "poof" as a thing
 * vanishes) are left out.
 */

/* Theme 3: racial, ethnic and religious slurs. */
rule content_en_language_nsfw_3
{
  meta:
    description = "racial, ethnic and religious slurs"
  strings:
    $ = "nigger" fullword nocase
    $ = "niggers" fullword nocase
    $ = "nigga" fullword nocase
    $ = "niggas" fullword nocase
    $ = "niggaz" fullword nocase
    $ = "n1gger" fullword nocase
    $ = "n1gga" fullword nocase
    $ = "nigg3r" fullword nocase
    $ = "sand nigger" fullword nocase
    $ = "ching chong" fullword nocase
    $ = "gook" fullword nocase
    $ = "gooks" fullword nocase
    $ = "zipperhead" fullword nocase
    $ = "slant eye" fullword nocase
    $ = "slanteye" fullword nocase
    $ = "spic" fullword nocase
    $ = "spics" fullword nocase
    $ = "wetback" fullword nocase
    $ = "wetbacks" fullword nocase
    $ = "beaner" fullword nocase
    $ = "beaners" fullword nocase
    $ = "kike" fullword nocase
    $ = "kikes" fullword nocase
    $ = "heeb" fullword nocase
    $ = "raghead" fullword nocase
    $ = "ragheads" fullword nocase
    $ = "towelhead" fullword nocase
    $ = "towelheads" fullword nocase
    $ = "camel jockey" fullword nocase
    $ = "paki" fullword nocase
    $ = "pakis" fullword nocase
    $ = "porch monkey" fullword nocase
    $ = "jungle bunny" fullword nocase
    $ = "darkie" fullword nocase
    $ = "darkies" fullword nocase
    $ = "golliwog" fullword nocase
    $ = "pickaninny" fullword nocase
    $ = "coonass" fullword nocase
    $ = "redskin" fullword nocase
    $ = "redskins" fullword nocase
    $ = "injun" fullword nocase
    $ = "japs" fullword nocase
    $ = "dago" fullword nocase
    $ = "dagos" fullword nocase
    $ = "wop" fullword nocase
    $ = "wops" fullword nocase
    $ = "gyppo" fullword nocase
    $ = "pikey" fullword nocase
    $ = "boong" fullword nocase
    $ = "abbo" fullword nocase
    $ = "white trash" fullword nocase
  condition:
    any of them
}

/* Theme 4: slurs on sexuality, gender identity and disability. */
rule content_en_language_nsfw_4
{
  meta:
    description = "slurs on sexuality, gender identity and disability"
  strings:
    $ = "faggot" fullword nocase
    $ = "faggots" fullword nocase
    $ = "faggy" fullword nocase
    $ = "f4ggot" fullword nocase
    $ = "fagg0t" fullword nocase
    $ = "poofter" fullword nocase
    $ = "batty boy" fullword nocase
    $ = "bum boy" fullword nocase
    $ = "pillow biter" fullword nocase
    $ = "carpet muncher" fullword nocase
    $ = "lesbo" fullword nocase
    $ = "lezzie" fullword nocase
    $ = "tranny" fullword nocase
    $ = "trannies" fullword nocase
    $ = "shemale" fullword nocase
    $ = "shemales" fullword nocase
    $ = "he-she" fullword nocase
    $ = "retard" fullword nocase
    $ = "retards" fullword nocase
    $ = "tard" fullword nocase
    $ = "spaz" fullword nocase
    $ = "spazz" fullword nocase
  condition:
    any of them
}
