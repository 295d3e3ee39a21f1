"""Ordinary letters for the end-to-end bench (issue 18 asks for 5 KB e-mails and web forms).

Written for the bench, not taken from the at-risk sets or the rules. Neither raises an at-risk
alert (checked when they were added); `bench_classifier.EMAIL`, an equally ordinary letter,
does: the model scores it over the threshold (a false alarm, issue 13), so the classifier then
scores every sentence. `BENCH_E2E_ALERTING=1` posts that one instead, the classifier's worst case.
"""

LETTERS = [
    """Good morning,

I am writing about the child support assessment for my daughter. I received your letter dated
the 14th of last month and I have a few questions about the figures, because they do not match
what I expected from the estimate I put in earlier in the year.

First, the letter says my adjusted taxable income is a little over seventy-two thousand dollars.
My tax return for last financial year showed sixty-eight thousand, and I understand there was a
reportable super contribution of about four thousand through a salary sacrifice arrangement my
employer set up in March. Is that where the difference comes from? If so, I would like to know
whether that amount will still be counted next year, because I stopped the arrangement when my
hours changed in October.

Second, the care percentage on the assessment still shows my daughter with me for two nights a
fortnight. Since the start of the school term she has been staying with me every second weekend
plus every Wednesday night, which by my count is four nights a fortnight. Her father and I agreed
on this in writing through the mediation service and I can send you a copy of the parenting plan
if that helps. I do not want to cause any trouble over it, I would just like the numbers to be
right so that neither of us ends up owing money later.

Third, I noticed the payment amount starts from the first of next month. I had thought any change
would apply from the date I rang your office, which was about five weeks ago. Could you please
explain how the start date is worked out? I have kept a note of the date and the name of the
person I spoke to if you need it.

I also wanted to update my postal address. We moved at the end of August and although mail is
being redirected for now, that only lasts three months. The new address is on the form I have
attached, along with a copy of my last two payslips and the letter from my employer confirming
the reduced hours.

I would prefer to be contacted by email where possible as I work shifts and often cannot take
calls during business hours. If something needs a signature I am happy to print it and post it
back, or to come into a service centre on my day off.

Thank you for taking the time to look at this.

Kind regards,
Melissa
""",
    """To whom it may concern,

Re: deductions from wages, employee reference in the attached schedule

We are the payroll provider for a small group of hospitality businesses and we received your
notice asking us to deduct child support from one of our employees' pay each fortnight. We want
to make sure we get this right from the start, so I have set out what we have done and a couple
of questions.

The notice arrived on a Thursday and our pay run closes on Monday, so the first deduction was
taken from the pay period ending last Sunday. We deducted the amount in the notice less nothing
else, and the employee's net pay did not fall below the protected earnings amount you gave us.
The payment was sent by electronic funds transfer on Tuesday using the reference number printed
on the notice. Please let us know if the reference should be written differently, because our
banking software cuts it off after eighteen characters.

Our first question is about casual shifts. This employee works a roster that changes every week,
and some fortnights they only work two or three shifts. In a fortnight where their pay is lower
than usual, should we deduct a smaller amount so they keep the protected earnings, and then make
up the difference later, or simply deduct what we can and leave it there?

Our second question is about the end of the month. Two of our venues close for renovation for
three weeks in January. The employee will not be paid during that time. Do we need to tell you
in advance, or is it enough to show a zero deduction on the next remittance advice?

We have attached our remittance advice for this period as a spreadsheet and a PDF, in the format
our accountant normally uses for other agencies. If you need a different layout we can change it,
but it would help to have an example.

Finally, our contact details have changed since the notice was addressed. Please send future
correspondence to the payroll team mailbox rather than to the owner directly, as she is not
always in the office and we would not want to miss a deadline.

Thank you for your help. We are a small office and this is the first time we have handled a
child support deduction, so we appreciate any guidance you can give.

Yours faithfully,
Payroll Officer
""",
]
