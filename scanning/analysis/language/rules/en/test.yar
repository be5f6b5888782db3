/*
 * English, the documented test content of the category (docs/engines.md): a client checks
 * that unsafe language is detected end to end with this text, without sending offensive text.
 */
rule content_en_language_nsfw_test
{
  meta:
    description = "test content, no offensive meaning"
  strings:
    $ = "E78F3BC5-9633-4FF8-9311-148ACC4880DF" nocase
  condition:
    any of them
}
