/*
 * English, theme 1: swearing. The f-word and s-word families, with the spellings people use to
 * get past a filter (`f*ck`, `sh1t`, `fvck`): each one a plain string, so the rule stays a
 * fast literal search. Mild words common in everyday speech ("damn", "hell", "crap") are out.
 */
rule content_en_language_nsfw_1
{
  meta:
    description = "swearing"
  strings:
    $ = "fuck" fullword nocase
    $ = "fucks" fullword nocase
    $ = "fucked" fullword nocase
    $ = "fucker" fullword nocase
    $ = "fuckers" fullword nocase
    $ = "fucking" fullword nocase
    $ = "fuckin" fullword nocase
    $ = "fuckery" fullword nocase
    $ = "fuckoff" fullword nocase
    $ = "fuck off" fullword nocase
    $ = "motherfucker" fullword nocase
    $ = "motherfuckers" fullword nocase
    $ = "motherfucking" fullword nocase
    $ = "mothafucka" fullword nocase
    $ = "clusterfuck" fullword nocase
    $ = "mindfuck" fullword nocase
    $ = "unfuckable" fullword nocase
    $ = "f*ck" fullword nocase
    $ = "f**k" fullword nocase
    $ = "f***" fullword nocase
    $ = "f*cking" fullword nocase
    $ = "f**king" fullword nocase
    $ = "f*cked" fullword nocase
    $ = "fck" fullword nocase
    $ = "fcking" fullword nocase
    $ = "fuk" fullword nocase
    $ = "fuking" fullword nocase
    $ = "fvck" fullword nocase
    $ = "phuck" fullword nocase
    $ = "phucking" fullword nocase
    $ = "fukin" fullword nocase
    $ = "f u c k" fullword nocase
    $ = "wtf" fullword nocase
    $ = "stfu" fullword nocase
    $ = "gtfo" fullword nocase
    $ = "shit" fullword nocase
    $ = "shits" fullword nocase
    $ = "shitty" fullword nocase
    $ = "shitting" fullword nocase
    $ = "shitted" fullword nocase
    $ = "shite" fullword nocase
    $ = "shitload" fullword nocase
    $ = "shitstorm" fullword nocase
    $ = "shitshow" fullword nocase
    $ = "bullshit" fullword nocase
    $ = "bullshitting" fullword nocase
    $ = "horseshit" fullword nocase
    $ = "batshit" fullword nocase
    $ = "apeshit" fullword nocase
    $ = "chickenshit" fullword nocase
    $ = "sh*t" fullword nocase
    $ = "sh!t" fullword nocase
    $ = "sh1t" fullword nocase
    $ = "$hit" fullword nocase
    $ = "goddamn" fullword nocase
    $ = "goddamned" fullword nocase
    $ = "goddammit" fullword nocase
    $ = "piss" fullword nocase
    $ = "pissed" fullword nocase
    $ = "pissing" fullword nocase
    $ = "piss off" fullword nocase
    $ = "bollocks" fullword nocase
    $ = "bastard" fullword nocase
    $ = "bastards" fullword nocase
    $ = "cunt" fullword nocase
    $ = "cunts" fullword nocase
    $ = "c*nt" fullword nocase
  condition:
    any of them
}
