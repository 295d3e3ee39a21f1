"""Everyday mail for issue 14: payroll remittances, out-of-office replies, Securemail notices,
holiday letters, overseas cases, mail for other agencies and advertising, as people write them.

Texts are module constants (the classifier's unit tests read them); `*_email` functions build the
raw RFC 822 message intake takes, with a fresh Message-ID so intake never treats two as one.
"""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import formatdate

SECUREMAIL_SENDER = "noreply@securemail.servicesaustralia.gov.au"

PAYROLL_REMITTANCE = """\
REMITTANCE ADVICE

Payer: Riverbend Plumbing Pty Ltd
Pay period ending: 14/11/2026

Child support deductions withheld from employees' wages for the period are listed below and
have been paid by EFT today.

Employee                CRN            Amount
J. Parent               {crn}     $212.40

Total remitted: $212.40

This advice was generated automatically by our payroll system. Please do not reply to this
address; questions to accounts@riverbend.example.com.au.
"""

OUT_OF_OFFICE = """\
Thank you for your email. I am out of the office until Monday 8 December with limited access
to email. For anything urgent please call reception on the main number.

Kind regards
Jo
"""

# A read notice as Outlook sends it in plain text (no RFC 8098 report), after the subject "Read: ...".
PLAIN_READ_NOTICE = """\
Your message

  To: Child Support
  Subject: Change of address
  Sent: Monday, 30 November 2026 8:02:11 PM (UTC+10:00) Canberra, Melbourne, Sydney

was read on Tuesday, 1 December 2026 9:14:02 AM (UTC+10:00) Canberra, Melbourne, Sydney.
"""

CUSTOMER_FORWARDING_A_READ_NOTICE = """\
Hi, I am forwarding this because your office keeps telling me you never got my change of address. As
you can see below it was read on the 1st of December. I have now been charged a late fee on my
account which I should not have to pay. Can someone please fix this and call me back, my CRN is {crn}.
"""

SECUREMAIL_NOTICE = """\
This is an automated notification.

A classified message has been securely delivered via Services Australia Securemail facility
to the following recipient(s):

payroll@riverbend.example.com.au

Sent: 24/11/2026 10:14 AM
Classification: OFFICIAL: Sensitive - Personal Privacy
"""

CUSTOMER_QUOTING_THE_NOTICE = """\
Hi,

I got an email saying a message has been securely delivered but I can't open it, the link
asks me to register and I don't have an account. Can you please post the letter to me instead?
My CRN is {crn}.

Thanks
Jo
"""

HOLIDAY_LETTER = """\
To whom it may concern,

Just letting you know we're going to Bali for two weeks in July for my sister's wedding, so I
won't be able to make the phone appointment about my assessment on the 10th. Could we please
move it to the week after we get back?

CRN {crn}

Regards,
Jo Parent
"""

OVERSEAS_CASE_LETTER = """\
Dear Child Support,

I am writing about my case. The father of my children moved to New Zealand permanently in
March and now works in Auckland. He has stopped paying since he left. I understand you can
ask the New Zealand Inland Revenue to collect child support from him there.

My CRN is {crn}.

Yours sincerely
Jo Parent
"""

OVERSEAS_AGENCY_LETTER = """\
Kia ora,

Please find attached our request under the reciprocal agreement between Australia and New
Zealand for the registration of a liability. The paying parent resides in New Zealand and the
receiving parent is your customer, CRN {crn}.

Ngā mihi
Overseas Child Support Team
"""

TAX_RETURN_MENTION = """\
Hello,

As asked on the phone, I've attached a copy of my tax return for last financial year. My
income dropped because I was on Centrelink for three months between jobs.

Jo
"""

ADDRESSED_TO_CENTRELINK = """\
Dear Centrelink,

Please update my address to 14 Hill Street, Ballarat from 1 December. Can you also tell me
if my JobSeeker reporting day changes when I move?

Thank you
"""

ADVERTISING = """\
END OF YEAR SALE - 40% off all office chairs!

Shop now and get free delivery on orders over $99. This exclusive offer ends Sunday.

Click here to browse the range.

You are receiving this because you signed up to our newsletter. Unsubscribe.
"""

HI_CENTRELINK = """\
Hi Centrelink,

I've picked up more shifts so my income estimate for Family Tax Benefit needs to go up before
I end up with a debt. myGov keeps logging me out when I try to change it. Can you do it for me?

Thanks, Sam
"""

CENTRELINK_SAID_TELL_YOU = """\
Hi, Centrelink said I should let you know as well that I've started a new job at the council,
four days a week from Monday. Tell me if you need my payslips.

Jo
"""

OVERDUE_INVOICE_SCAM = """\
FINAL NOTICE

Invoice INV-77120 for $912.40 is now 21 days overdue. To avoid late fees and suspension of your
service, pay the balance today through our secure payment portal:
https://billing-portal.example.net/inv77120

Accounts Receivable
"""

FRAUD_TIP_OFF_REPLY = """\
I'm away until Friday.

P.S. before I left: my ex is still working at the car yard, cash in hand, and is not declaring
it to you. I think it's fraud and someone should look at it.
"""


# Mail in voices no cue was written for (issue 14: the audience model reads them).
PHISHING_NAMING_CHILD_SUPPORT = """\
Services Australia | myGov

We were unable to process your latest Child Support payment because your linked bank details could
not be verified. Your online account has been placed on hold.

To avoid interruption to your payments, confirm your identity within 48 hours using the secure link
below:

https://mygov-verify-account.example.net/login

If you do not verify, your account will be suspended and any pending payments cancelled.

Regards,
myGov Online Services Team
"""

PAYROLL_BUREAU_NOTE = """\
Hello,

We look after payroll for Tallowood Joinery (ABN 16 568 042 907). Attached is this month's schedule of
the amounts withheld from staff wages for the Registrar, three people in total, paid in one transfer
today under reference TJ-1126.

One of the three, the apprentice, finishes up with Tallowood on Friday, so his amount will not appear
on next month's schedule.

Kind regards,
Bec Hollister
Ledgerline Payroll Services
"""


def email(
    body: str,
    *,
    sender: str = "jo.parent@example.org",
    subject: str = "Letter",
    to: str = "edc@agency.example",
    attachments: tuple[tuple[str, bytes], ...] = (),
    **headers: str,
) -> bytes:
    """One plain-text email; `attachments` as (filename, text); extra headers by keyword
    (underscores become hyphens)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@{sender.rsplit('@', 1)[-1]}>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    for filename, content in attachments:
        msg.add_attachment(content, maintype="text", subtype="plain", filename=filename)
    return msg.as_bytes()


def payroll_remittance_email(crn: str, sender: str = "payroll@riverbend.example.com.au") -> bytes:
    """A payroll system's remittance: Auto-Submitted: auto-generated and Exchange's suppress header."""
    return email(
        PAYROLL_REMITTANCE.format(crn=crn),
        sender=sender,
        subject="Remittance advice - child support deductions",
        Auto_Submitted="auto-generated",
        X_Auto_Response_Suppress="All",
    )


def out_of_office_email(sender: str = "jo.parent@example.org", body: str = OUT_OF_OFFICE) -> bytes:
    """What Exchange sends back: Auto-Submitted: auto-replied, suppress header, 'Automatic reply:' subject."""
    return email(
        body,
        sender=sender,
        subject="Automatic reply: Your child support assessment",
        Auto_Submitted="auto-replied",
        X_Auto_Response_Suppress="All",
    )


def securemail_notice_email() -> bytes:
    return email(
        SECUREMAIL_NOTICE,
        sender=SECUREMAIL_SENDER,
        subject="Delivery notification",
        Auto_Submitted="auto-generated",
    )


def customer_quoting_the_notice_email(crn: str) -> bytes:
    return email(
        CUSTOMER_QUOTING_THE_NOTICE.format(crn=crn),
        subject="RE: A classified message has been securely delivered",
    )
