// After django-otp-webauthn's script created a passkey, go on to the next step of the page
// (data-done-url on #passkey-done; the script replaces its own placeholder): the recovery codes, or
// where the staff member was going.
document.addEventListener("otp_webauthn.register_complete", function () {
  var done = document.getElementById("passkey-done");
  if (done) {
    window.location.assign(done.getAttribute("data-done-url"));
  }
});
