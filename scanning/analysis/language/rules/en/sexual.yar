/*
 * English, theme 0: explicit sexual terms and acts.
 *
 * Words with an ordinary meaning in everyday, art or medical prose are left out on purpose
 * ("sex", "nude", "nudes", "penis", "anal", "cum" as in "cum laude", "cock", "pussy"): a rule must
 * not fire on a school essay or a clinic leaflet. `fullword` keeps a term from matching
 * inside a longer word.
 *
 * The first string is the documented test content for this finding (see docs/engines.md):
 * a client checks the category end to end with it, without sending offensive text.
 */
rule content_en_language_nsfw_0
{
  meta:
    description = "explicit sexual terms and acts"
  strings:
    $test = "C681D880-8EB3-4D8F-B2E6-FE25EB415C47" nocase
    $ = "blowjob" fullword nocase
    $ = "blowjobs" fullword nocase
    $ = "blow job" fullword nocase
    $ = "handjob" fullword nocase
    $ = "hand job" fullword nocase
    $ = "rimjob" fullword nocase
    $ = "footjob" fullword nocase
    $ = "titjob" fullword nocase
    $ = "titfuck" fullword nocase
    $ = "deepthroat" fullword nocase
    $ = "deepthroating" fullword nocase
    $ = "fellatio" fullword nocase
    $ = "cunnilingus" fullword nocase
    $ = "analsex" fullword nocase
    $ = "anal sex" fullword nocase
    $ = "buttsex" fullword nocase
    $ = "buttfuck" fullword nocase
    $ = "buttfucking" fullword nocase
    $ = "butt plug" fullword nocase
    $ = "buttplug" fullword nocase
    $ = "gangbang" fullword nocase
    $ = "gang bang" fullword nocase
    $ = "bukkake" fullword nocase
    $ = "creampie" fullword nocase
    $ = "cumshot" fullword nocase
    $ = "cumshots" fullword nocase
    $ = "cumslut" fullword nocase
    $ = "cumdumpster" fullword nocase
    $ = "jizz" fullword nocase
    $ = "jizzed" fullword nocase
    $ = "dildo" fullword nocase
    $ = "dildos" fullword nocase
    $ = "fleshlight" fullword nocase
    $ = "masturbate" fullword nocase
    $ = "masturbating" fullword nocase
    $ = "masturbation" fullword nocase
    $ = "jerk off" fullword nocase
    $ = "jerking off" fullword nocase
    $ = "jack off" fullword nocase
    $ = "jacking off" fullword nocase
    $ = "wank" fullword nocase
    $ = "wanking" fullword nocase
    $ = "fingerbang" fullword nocase
    $ = "fisting" fullword nocase
    $ = "orgasm" fullword nocase
    $ = "orgasms" fullword nocase
    $ = "orgy" fullword nocase
    $ = "orgies" fullword nocase
    $ = "threesome" fullword nocase
    $ = "horny" fullword nocase
    $ = "boner" fullword nocase
    $ = "boobs" fullword nocase
    $ = "boobies" fullword nocase
    $ = "titties" fullword nocase
    $ = "tittie" fullword nocase
    $ = "clit" fullword nocase
    $ = "clits" fullword nocase
    $ = "schlong" fullword nocase
    $ = "poontang" fullword nocase
    $ = "queef" fullword nocase
    $ = "smegma" fullword nocase
    $ = "sodomize" fullword nocase
    $ = "sodomized" fullword nocase
    $ = "cocksucking" fullword nocase
    $ = "pussylicking" fullword nocase
    $ = "motorboating" fullword nocase
    $ = "teabagging" fullword nocase
    $ = "bdsm" fullword nocase
    $ = "sexting" fullword nocase
    $ = "dickpic" fullword nocase
    $ = "dick pic" fullword nocase
    $ = "slut" fullword nocase
    $ = "sluts" fullword nocase
    $ = "slutty" fullword nocase
    $ = "whore" fullword nocase
    $ = "whores" fullword nocase
    $ = "skank" fullword nocase
    $ = "skanky" fullword nocase
    $ = "milf" fullword nocase
    $ = "milfs" fullword nocase
  condition:
    any of them
}
