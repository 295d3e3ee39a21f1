"""The labelled at-risk test set, written before the filter (issue 4).

Each case: (channel, text, expected category or None). Positives cover every category with
plain, indirect and OCR-damaged phrasing; negatives are realistic correspondence that uses
alarming words harmlessly. The filter must find every positive (recall 100%); a few
negatives are allowed to alarm (see ACCEPTABLE_FALSE_ALARMS), because a false alarm costs a
person a minute while a miss can cost a life.
"""

from __future__ import annotations

SUICIDE = "suicide_self_harm"
THREAT = "threat_to_others"
FDV = "family_domestic_violence"

POSITIVES: list[tuple[str, str, str]] = [
    # suicide, self-harm, threats to self
    ("email", "I can't keep going like this. Every month the payments go up and I have nothing left.", SUICIDE),
    ("email", "Honestly I just want to end it all.", SUICIDE),
    ("webform", "I am going to kill myself if you take any more money from my pay.", SUICIDE),
    ("webform", "there is no point living anymore, my kids would be better off without me", SUICIDE),
    ("email", "I have been thinking about suicide since the assessment came through", SUICIDE),
    ("scan", "I feel suic1dal and nobody at your office cares", SUICIDE),
    ("scan", "i wi11 k1ll mys elf before i pay that", SUICIDE),
    ("email", "I've started cutting myself again because of the stress", SUICIDE),
    ("webform", "I don't want to be here anymore.", SUICIDE),
    ("email", "Maybe I should just take all my pills and be done with it", SUICIDE),
    ("scan", "I  am   thinking of ending my life", SUICIDE),
    ("email", "I wont be around much longer so it wont matter what you decide", SUICIDE),
    ("webform", "life is not worth living like this", SUICIDE),
    ("email", "I'm going to hurt myself", SUICIDE),
    ("scan", "SUICIDE IS THE ONLY WAY OUT", SUICIDE),
    ("email", "i want to die", SUICIDE),
    ("webform", "I cant take it any more, I'm done with life", SUICIDE),
    ("email", "I've written letters to my children to say goodbye", SUICIDE),
    ("scan", "self-harm has become part of my week", SUICIDE),
    ("email", "I tried to overdose last month", SUICIDE),
    ("webform", "I may as well jump off a bridge", SUICIDE),
    # threats to the other parent, a child, staff or anyone
    ("email", "He said he would make me pay if I ever left.", FDV),
    ("email", "If you don't fix this I will come down to your office and someone will get hurt.", THREAT),
    ("webform", "I'm going to hurt him when I see him.", THREAT),
    ("email", "I will kill her if she takes the kids again", THREAT),
    ("scan", "tell the case officer i know where she lives", THREAT),
    ("email", "Your staff deserve a bullet", THREAT),
    ("webform", "I'll burn the place down", THREAT),
    ("email", "one day I will snap and do something to that woman", THREAT),
    ("scan", "I am going to hurt the kids so she knows how it feels", THREAT),
    ("email", "watch your back", THREAT),
    ("webform", "I will shoot anyone who comes near my house", THREAT),
    ("email", "he threatened to kill me and the baby", FDV),
    ("scan", "I wi11 ki11 him", THREAT),
    ("email", "I'll make him regret it, he won't see it coming", THREAT),
    ("webform", "people like you should be put down, I'm coming for you", THREAT),
    ("email", "I will get my gun", THREAT),
    # family and domestic violence
    ("email", "My ex-partner hit me in front of the children last week.", FDV),
    ("webform", "I am scared of him, he has been violent before and I have an AVO.", FDV),
    ("email", "There is a family violence order in place, please do not send him my address", FDV),
    ("scan", "he strangled me and I had to go to hospital", FDV),
    ("email", "I had to flee to a refuge with the kids because of domestic violence", FDV),
    ("webform", "she abuses the children when they stay with her", FDV),
    ("email", "He bashed me and the police were called", FDV),
    ("scan", "dornestic vio1ence", FDV),
    ("email", "I'm afraid for my safety if he finds out where we live", FDV),
    ("webform", "intervention order against the father", FDV),
    ("email", "he controls all the money and won't let me leave the house", FDV),
]

NEGATIVES: list[tuple[str, str]] = [
    # Everyday mail in an informal register (posted as a customer would in session 5, it alerted:
    # the model had read text-speak itself as risk).
    (
        "webform",
        "hi can u tell me when the next payment is due, my daughter keeps asking about her school camp money. cheers",
    ),
    ("email", "Please update my address, I moved on Monday."),
    ("email", "The new payment amount will kill my budget this month."),
    ("webform", "I would like a copy of my assessment notice."),
    ("email", "Attached is the court order from the Family Court dated 3 March."),
    ("scan", "Application for child support assessment. Page 1 of 3"),
    ("email", "My employer has started deductions from my wages."),
    ("webform", "How do I change my bank details?"),
    ("email", "I'm dying to know when the payment will arrive!"),
    ("email", "We are drowning in paperwork, please send the forms again."),
    ("scan", "Child support agreement between the parties, signed and witnessed."),
    ("email", "I have been living overseas for two years and want to end my case."),
    ("webform", "Please end the collection arrangement; we have a private agreement now."),
    ("email", "The children are safe and happy; we share care week about."),
    ("email", "I need to hit the deadline for my tax return, can you extend it?"),
    ("scan", "Returned to sender - addressee unknown"),
    ("email", "Thank you for your help, the officer was lovely."),
    ("webform", "My son is starting school next year, does that change anything?"),
    ("email", "I want to object to the decision made on 12 May."),
    ("email", "Please find my freedom of information request attached."),
    ("scan", "Payment slip, cheque enclosed for $250."),
    ("email", "The website keeps crashing and it is killing me, ha ha"),
    ("webform", "Change of circumstances: I started a new job."),
    ("email", "The car died last week so I'll be late with the payment."),
]

# Negatives that may alarm without failing the test: figures of speech close to real distress.
ACCEPTABLE_FALSE_ALARMS = {
    "The new payment amount will kill my budget this month.",
    "The website keeps crashing and it is killing me, ha ha",
    "I have been living overseas for two years and want to end my case.",
}
