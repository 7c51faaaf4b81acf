"""The ``translation_rewriting`` family: passive voice, tense, formal tone, capitals and Pig Latin rewrites."""

from __future__ import annotations

import random
import re

from tools.demo_data.common import WEEKDAYS, Example, cap

_VERBS = (
    (
        "write",
        "writes",
        "wrote",
        "written",
        (("a letter", False), ("the report", False), ("two poems", True)),
    ),
    ("cook", "cooks", "cooked", "cooked", (("the soup", False), ("dinner", False), ("the vegetables", True))),
    (
        "paint",
        "paints",
        "painted",
        "painted",
        (("the fence", False), ("the walls", True), ("a portrait", False)),
    ),
    (
        "build",
        "builds",
        "built",
        "built",
        (("the bridge", False), ("a shed", False), ("the new houses", True)),
    ),
    ("clean", "cleans", "cleaned", "cleaned", (("the kitchen", False), ("the windows", True))),
    (
        "repair",
        "repairs",
        "repaired",
        "repaired",
        (("the bicycle", False), ("the old clocks", True), ("the roof", False)),
    ),
    ("deliver", "delivers", "delivered", "delivered", (("the parcels", True), ("the package", False))),
    ("sign", "signs", "signed", "signed", (("the contract", False), ("the forms", True))),
    ("bake", "bakes", "baked", "baked", (("the bread", False), ("the cakes", True), ("a pie", False))),
    ("design", "designs", "designed", "designed", (("the logo", False), ("the gardens", True))),
    ("wash", "washes", "washed", "washed", (("the dishes", True), ("the car", False))),
    ("open", "opens", "opened", "opened", (("the door", False), ("the gates", True))),
    ("find", "finds", "found", "found", (("the keys", True), ("the missing file", False))),
    ("draw", "draws", "drew", "drawn", (("a map", False), ("the diagrams", True))),
    ("choose", "chooses", "chose", "chosen", (("the winner", False), ("the colours", True))),
    ("send", "sends", "sent", "sent", (("the invitations", True), ("a reminder", False))),
    ("sell", "sells", "sold", "sold", (("the tickets", True), ("the old piano", False))),
    ("eat", "eats", "ate", "eaten", (("the apples", True), ("the sandwich", False))),
    ("take", "takes", "took", "taken", (("the photos", True), ("the last seat", False))),
    ("plant", "plants", "planted", "planted", (("the roses", True), ("a tree", False))),
)
_SUBJECTS = (
    ("the chef", False),
    ("Maria", False),
    ("the committee", False),
    ("our neighbours", True),
    ("the students", True),
    ("my brother", False),
    ("the engineers", True),
    ("a volunteer", False),
    ("the manager", False),
    ("Tom", False),
    ("the children", True),
    ("Ms. Lee", False),
)
_INFORMAL_CLAUSES = (
    "I can't make it to the {event} on {day}",
    "we're gonna finish the {thing} by {day}",
    "it's kinda hard to read the {thing}",
    "they don't wanna change the {thing}",
    "I'm not sure the {thing} is ready",
    "you won't need the {thing} on {day}",
    "she isn't coming to the {event}",
    "he didn't send the {thing} yet",
    "we haven't seen the {thing}",
    "I'll call you about the {event} on {day}",
    "the {thing} doesn't look right",
    "they're busy with the {event}",
    "it wasn't my idea to move the {event}",
    "I couldn't open the {thing}",
    "we'll need the {thing} by {day}",
    "let's talk about the {event} on {day}",
)
_FORMAL = (
    ("can't", "cannot"),
    ("won't", "will not"),
    ("don't", "do not"),
    ("doesn't", "does not"),
    ("didn't", "did not"),
    ("isn't", "is not"),
    ("wasn't", "was not"),
    ("haven't", "have not"),
    ("couldn't", "could not"),
    ("I'm", "I am"),
    ("we're", "we are"),
    ("they're", "they are"),
    ("it's", "it is"),
    ("I'll", "I will"),
    ("we'll", "we will"),
    ("let's", "let us"),
    ("gonna", "going to"),
    ("wanna", "want to"),
    ("kinda", "somewhat"),
    ("hey", "hello"),
    ("yeah", "yes"),
    ("thanks", "thank you"),
)
PIG_WORDS = (
    "hello",
    "world",
    "apple",
    "string",
    "banana",
    "brown",
    "fox",
    "jumps",
    "over",
    "lazy",
    "dog",
    "orange",
    "smile",
    "eat",
    "green",
    "tree",
    "under",
    "river",
    "stone",
    "happy",
    "garden",
    "light",
    "music",
    "open",
    "school",
    "window",
    "train",
    "ice",
    "cream",
    "blue",
    "planet",
    "chair",
    "early",
    "morning",
)


def _formalise(text: str) -> str:
    for informal, formal in _FORMAL:
        text = re.sub(rf"(?<![\w']){re.escape(informal)}(?![\w'])", formal, text)
    return text


def _pig_latin_word(word: str) -> str:
    if word[0] in "aeiou":
        return word + "way"
    i = next(i for i, c in enumerate(word) if c in "aeiou")
    return word[i:] + word[:i] + "ay"


def make_translation_rewriting(r: random.Random) -> Example:
    """One rewriting task (passive, past tense, formal, capitals, Pig Latin), its result, and meta.

    Example:
        >>> import random
        >>> _, answer, meta = make_translation_rewriting(random.Random(0))
        >>> answer == meta["answer"]
        True
    """
    op = r.choice(("passive_past", "passive_present", "past_tense", "formal", "upper", "pig_latin"))
    base, third, past, participle, objects = r.choice(_VERBS)
    obj, obj_plural = r.choice(objects)
    subj, subj_plural = r.choice(_SUBJECTS)
    if op == "passive_past":
        source = f"{cap(subj)} {past} {obj}."
        result = f"{cap(obj)} {'were' if obj_plural else 'was'} {participle} by {subj}."
        user = r.choice(
            (f"Rewrite the sentence in the passive voice: {source}", f'Change to passive voice: "{source}"')
        )
    elif op == "passive_present":
        source = f"{cap(subj)} {base if subj_plural else third} {obj}."
        result = f"{cap(obj)} {'are' if obj_plural else 'is'} {participle} by {subj}."
        user = r.choice(
            (
                f"Rewrite the sentence in the passive voice: {source}",
                f'Put this sentence into the passive: "{source}"',
            )
        )
    elif op == "past_tense":
        source = f"{cap(subj)} {base if subj_plural else third} {obj}."
        result = f"{cap(subj)} {past} {obj}."
        user = r.choice(
            (
                f"Rewrite the sentence in the simple past tense: {source}",
                f'Change "{source}" to the past tense.',
            )
        )
    elif op == "formal":
        fill = {
            "event": r.choice(("meeting", "workshop", "party", "review", "conference")),
            "thing": r.choice(("report", "budget", "schedule", "contract", "slides", "invoice")),
            "day": r.choice(WEEKDAYS[:5]),
        }
        first, second = (c.format(**fill) for c in r.sample(_INFORMAL_CLAUSES, 2))
        opener = r.choice(("hey, ", "yeah, ", "thanks, ", "", "", ""))
        informal = f"{opener}{first}{r.choice((' and ', ' but ', ', so '))}{second}."
        source, result = cap(informal), cap(_formalise(informal))
        user = r.choice(
            (
                f"Rewrite this message in a formal tone, expanding contractions and replacing slang: {source}",
                f'Make the following sentence formal (no contractions or slang): "{source}"',
            )
        )
    elif op == "upper":
        source = f"{cap(subj)} {past} {obj} on {r.choice(WEEKDAYS)}."
        result = source.upper()
        user = r.choice((f"Rewrite the sentence in all capital letters: {source}", f'Convert to uppercase: "{source}"'))
    else:
        words = [r.choice(PIG_WORDS) for _ in range(r.randint(2, 5))]
        source = " ".join(words)
        result = " ".join(_pig_latin_word(w) for w in words)
        user = (
            f'Translate into Pig Latin: "{source}". Move the consonants before the first vowel of each word '
            'to its end and add "ay"; words that start with a vowel just get "way".'
        )
    return user, result, {"op": op, "source": source, "answer": result}
